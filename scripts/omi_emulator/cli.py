"""The command line: the flags (--help), their checks, and main(), which
dumps the dataset or serves it."""

import argparse
import os
import sys
import textwrap

from .common import KEY_RE, dump_json_bytes
from .data import load_dataset
from .faults import validate_faults
from .rate_limits import DEFAULT_LIMITS
from .server import serve


def build_parser():
    """The parser of the command line; its --help is the flags' reference."""
    p = argparse.ArgumentParser(
        prog="omi-emulator",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="A local Omi Developer API (/v1/dev) with seeded data, two dialects, "
                    "rate limits, fault injection and an admin API under /_emulator/.",
        epilog="The first stdout line is the base URL (http://HOST:PORT/v1/dev).  SIGTERM/SIGINT stop "
               "the server (exit 0).\nAdmin API (no auth): GET /_emulator/info, GET /_emulator/data[?all=1], "
               "GET /_emulator/stats,\nPOST /_emulator/stats/reset, GET|POST /_emulator/faults, "
               "POST /_emulator/faults/clear,\nGET /_emulator/rate-limits, POST /_emulator/rate-limits/reset, "
               "GET|POST /_emulator/keys,\nPOST /_emulator/KIND, GET|PATCH|DELETE /_emulator/KIND/ID "
               "(KIND: conversations, memories, action-items),\n"
               "POST /_emulator/lock {\"kind\": KIND, \"id\": ID, \"locked\": true|false} (the backend's lock; "
               "same as PATCH\n/_emulator/KIND/ID {\"_locked\": true}; only the backend profile honours it).")
    add_server_flags(p)
    add_keys_flags(p)
    add_data_flags(p)
    add_rate_limits_flags(p)
    add_faults_flags(p)
    return p


def add_server_flags(p):
    """The server group: --host, --port, --url-file, --profile, --verbose, --log."""
    g = p.add_argument_group("server")
    g.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    g.add_argument("--port", type=int, default=0, metavar="PORT", help="port to listen on; 0 picks a free one (default 0)")
    g.add_argument("--url-file", metavar="FILE", help="also write the base URL to FILE once listening")
    g.add_argument("--profile", choices=["documented", "backend"], default="documented",
                   help="which API to play: the published docs or the real backend (default documented)")
    g.add_argument("--verbose", action="store_true", help="log every request on stderr")
    g.add_argument("--log", metavar="FILE",
                   help="append one JSON line per API request: t, method, path, query, status "
                        "(0 = dropped), bytes, ms, fault")


def add_keys_flags(p):
    """The keys group: --key, --key-file."""
    g = p.add_argument_group("keys")
    g.add_argument("--key", action="append", default=[], metavar="KEY",
                   help="a valid API key, omi_dev_ + 32 lowercase hex (repeatable)")
    g.add_argument("--key-file", metavar="FILE",
                   help="file with valid API keys, one per line (blank lines and # comments ignored). "
                        "With neither --key nor --key-file a random key is generated and printed on stderr. "
                        "Any valid key also authenticates /keys in both profiles")


def add_data_flags(p):
    """The data group: the dataset: its seed, size and span, --corpus, --hostile-ids, --data, --dump-data."""
    g = p.add_argument_group("data")
    g.add_argument("--seed", type=int, default=1, metavar="N", help="data generator seed (default 1)")
    g.add_argument("--conversations", type=int, default=60, metavar="N",
                   help="number of conversations (default 60; every hard case is planted "
                        "when N >= 19)")
    g.add_argument("--memories", type=int, default=80, metavar="N", help="number of memories (default 80)")
    g.add_argument("--memory-categories", type=int, default=0, metavar="N",
                   help="file the memories under N made-up categories (topic-00000, ...) rather "
                        "than the app's few, as a heavy account's many directories (default 0: "
                        "the app's)")
    g.add_argument("--action-items", type=int, default=50, metavar="N", help="number of action items (default 50)")
    g.add_argument("--goals", type=int, default=5, metavar="N",
                   help="number of goals (default 5; served in the backend profile only)")
    g.add_argument("--segments", type=int, default=20, metavar="N", help="mean transcript segments per conversation (default 20)")
    g.add_argument("--days", type=int, default=30, metavar="N",
                   help="span of the data in days, ending 2025-06-30T23:59:59Z (default 30)")
    g.add_argument("--corpus", metavar="FILE",
                   help="draw transcripts, overviews, memories and action items from the sentences "
                        "of FILE, one a line (scripts/gather-corpus makes one from real English "
                        "text), instead of the word list")
    g.add_argument("--hostile-ids", action="store_true",
                   help="add objects whose ids contain /, are . or .., hold control characters or NUL, "
                        "are 300 bytes long, or duplicate an existing id")
    g.add_argument("--data", metavar="FILE",
                   help='load this dataset instead of generating one: {"conversations": [...], '
                        '"memories": [...], "action_items": [...]} in the backend\'s full shape')
    g.add_argument("--dump-data", metavar="FILE", help="write the dataset as JSON to FILE ('-' = stdout) and exit")


def add_rate_limits_flags(p):
    """The rate limits group: --window-scale, --limit."""
    g = p.add_argument_group("rate limits")
    g.add_argument("--window-scale", type=float, default=1.0, metavar="F",
                   help="multiply every rate-limit window (minute, day, hour) by F, e.g. 0.05 (default 1)")
    g.add_argument("--limit", action="append", default=[], metavar="NAME=N",
                   help="override a limit (repeatable). documented: minute (100/key), day (10000/user); "
                        "backend, per hour: memories (120), action_items (120), conversations (60), "
                        "conversation (60), transcripts (25)")


def add_faults_flags(p):
    """The faults group: the faults of the start, the same as POST /_emulator/faults."""
    g = p.add_argument_group("faults", textwrap.fill(
        "Seeded and reproducible.  They hit /v1/dev requests only, never /_emulator/.  Latency and stalls "
        "come first; the other faults come after the key check and the rate limit, so they never hit a 401 "
        "and an injected failure other than 429 uses budget.  At run time POST /_emulator/faults a JSON "
        "object with the same names in snake_case (latency_ms, error_rate, error_status, malformed_rate, "
        "truncate_rate, drop_rate, stall_rate, stall_seconds, wrong_types_rate, fail_next, paths, "
        "retry_after; and seed to re-seed the dice).  Run time only: shift_page {\"kind\": KIND, \"count\": N} "
        "answers the next N listings of KIND with 0 < offset as if one item before the offset had been "
        "deleted (the item at the offset is skipped, once per count).", 78))
    g.add_argument("--fault-seed", type=int, default=0, metavar="N", help="seed of the fault dice (default 0)")
    g.add_argument("--latency-ms", type=float, default=0, metavar="MS", help="delay added to every API response")
    g.add_argument("--error-rate", type=float, default=0.0, metavar="P",
                   help="fraction (0..1) answered with --error-status in the profile's error dialect")
    g.add_argument("--error-status", type=int, default=500, metavar="STATUS",
                   help="status of injected errors (default 500; 429 carries the rate headers and "
                        "Retry-After; 402 in the backend profile has an object detail)")
    g.add_argument("--malformed-rate", type=float, default=0.0, metavar="P",
                   help="fraction answered 200 with a body that is not JSON")
    g.add_argument("--truncate-rate", type=float, default=0.0, metavar="P",
                   help="fraction answered 200 with the full Content-Length but half the body, then closed")
    g.add_argument("--drop-rate", type=float, default=0.0, metavar="P",
                   help="fraction whose connection is closed without any response")
    g.add_argument("--stall-rate", type=float, default=0.0, metavar="P",
                   help="fraction that wait --stall-seconds before the answer; a stall ends early when the "
                        "faults are cleared, the stall settings change, or the server stops")
    g.add_argument("--stall-seconds", type=float, default=30.0, metavar="S", help="length of a stall (default 30)")
    g.add_argument("--wrong-types-rate", type=float, default=0.0, metavar="P",
                   help="fraction answered 200 with valid JSON of the wrong types (strings for numbers, "
                        "objects for arrays, nulls, ...)")
    g.add_argument("--fail-next", type=int, default=0, metavar="N",
                   help="the next N API requests (matching --fault-paths) fail with --error-status")
    g.add_argument("--fault-paths", default="", metavar="SUBSTRING",
                   help="faults (and latency) only hit request paths containing SUBSTRING, e.g. "
                        "/user/memories (default: all)")
    g.add_argument("--retry-after", type=int, default=1, metavar="S",
                   help="Retry-After (seconds) of injected 429s (default 1)")


def parse_args(argv):
    """The options, checked: limit_overrides, initial_faults and keys added."""
    p = build_parser()
    opts = p.parse_args(argv)
    overrides = {}
    for item in opts.limit:
        name, sep, value = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in DEFAULT_LIMITS or not value.strip().isdigit():
            p.error("--limit wants NAME=N with NAME one of %s" % ", ".join(DEFAULT_LIMITS))
        overrides[name] = int(value)
    opts.limit_overrides = overrides
    if opts.window_scale <= 0:
        p.error("--window-scale must be positive")
    faults = {
        "latency_ms": opts.latency_ms, "error_rate": opts.error_rate, "error_status": opts.error_status,
        "malformed_rate": opts.malformed_rate, "truncate_rate": opts.truncate_rate,
        "drop_rate": opts.drop_rate, "stall_rate": opts.stall_rate, "stall_seconds": opts.stall_seconds,
        "wrong_types_rate": opts.wrong_types_rate, "fail_next": opts.fail_next,
        "paths": opts.fault_paths, "retry_after": opts.retry_after,
    }
    err = validate_faults(faults)
    if err:
        p.error(err)
    opts.initial_faults = faults
    keys = list(opts.key)
    if opts.key_file:
        try:
            with open(opts.key_file, encoding="utf-8") as fh:
                for line in fh:
                    line = line.strip()
                    if line and not line.startswith("#"):
                        keys.append(line)
        except OSError as exc:
            p.error("cannot read --key-file: %s" % exc)
    for k in keys:
        if not KEY_RE.match(k):
            p.error("not a valid key (omi_dev_ + 32 lowercase hex): %r" % k)
    opts.keys = keys
    return opts


def main(argv=None):
    """The emulator's command line: dump the dataset, or serve it; the exit status."""
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        dataset = load_dataset(opts)
    except (OSError, ValueError) as exc:
        sys.stderr.write("omi-emulator: cannot load data: %s\n" % exc)
        return 2
    if opts.dump_data:
        dump_data(dataset, opts.dump_data)
        return 0
    return serve(opts, dataset)


def dump_data(dataset, path):
    """--dump-data: the dataset as one line of JSON to path, '-' for stdout."""
    blob = dump_json_bytes(dataset) + b"\n"
    if path == "-":
        sys.stdout.buffer.write(blob)
        sys.stdout.flush()
    else:
        tmp = path + ".tmp"
        with open(tmp, "wb") as fh:
            fh.write(blob)
        os.replace(tmp, path)
