"""omi-emulator -- a local stand-in for the Omi Developer API (/v1/dev).

A small threaded HTTP server (Python 3.11 standard library only) that serves a
deterministic, seeded Omi dataset (memories, conversations with transcripts,
action items) the way the Omi Developer API does.  It plays two profiles:

  documented  the published documentation: per-key/minute and per-user/day
              rate limits with X-RateLimit-* headers on every response, error
              bodies {"error": {"message", "code"}}, 400 for bad parameters.
  backend     the real FastAPI backend: hourly per-policy buckets, no rate
              headers on success, Retry-After on 429, {"detail": ...} errors,
              422 validation errors with a list detail, silent limit clamping,
              the lock (locked conversations and action items dropped after
              paging, a locked conversation's GET 404, a locked memory's
              content longer than 70 characters cut to 70 + "..."), extra
              fields.  The documented profile ignores locks.

It also injects faults (latency, errors, malformed / truncated / dropped
responses, stalls, wrong JSON types), counts requests, writes a JSON-lines
request log, and has an unauthenticated admin API under /_emulator/ that
tests use to inspect and change its state while a client is connected.

Run it:

    scripts/omi-emulator                                  # documented profile, free port
    scripts/omi-emulator --profile backend --port 8765 --key omi_dev_<32 hex>
    scripts/omi-emulator --dump-data data.json            # write the dataset, exit
    scripts/omi-emulator --help                           # every flag

The first line on stdout is the base URL, e.g. http://127.0.0.1:41234/v1/dev
(also written to --url-file).  The server stops cleanly (exit 0) on SIGTERM or
SIGINT.  If no --key/--key-file is given a random key is generated and printed
on stderr.  The admin API (no auth, never rate limited, never faulted):

    GET  /_emulator/info                     profile, limits, windows, counts
    GET  /_emulator/data[?all=1]             what a client sees (all=1: raw)
    GET  /_emulator/stats                    request counters
    POST /_emulator/stats/reset
    GET  /_emulator/faults | POST /_emulator/faults {json merge} | POST /_emulator/faults/clear
    GET  /_emulator/rate-limits | POST /_emulator/rate-limits/reset
    GET  /_emulator/keys | POST /_emulator/keys {"key": "omi_dev_...", "name": "..."}
    POST /_emulator/{kind}  GET|PATCH|DELETE /_emulator/{kind}/{urlencoded id}
         kind = conversations | memories | action-items | goals
         (a goal's _history, newest first, is what /history serves; goals
         are served in the backend profile only, as the documented API has
         none)
    POST /_emulator/lock {"kind": "memories", "id": "...", "locked": true}
         lock (or with false unlock) one object; the same as PATCH
         /_emulator/{kind}/{id} {"_locked": true}.  Answers the raw object.

/_emulator/data shows what a client sees in the profile (locked memories as
their stub, locked conversations and action items gone in the backend
profile); ?all=1 the raw objects, _locked included.

Besides the dice-driven faults, POST /_emulator/faults takes
{"shift_page": {"kind": "memories", "count": 1}} (kind: conversations |
memories | action-items; count defaults to 1, 0 cancels): the next `count`
listings of that kind whose offset is inside the list but not 0 are answered
as if one item before the offset had been removed, so the item at the offset
is skipped and the page starts at offset + 1 (as when the backend's score order
changes between two page requests).  Nothing is deleted; later listings are
whole again, so a client paging on with offset += received reads one item
twice after the skip (a count of N shifts N requests).  Not limited by
"paths", never on a request another fault hits; each firing counts as fault
"shift_page" in /_emulator/stats and in the request log.  GET /_emulator/faults shows the shifts still pending per kind;
/_emulator/faults/clear cancels them.

The code, module by module (scripts/omi-emulator is the entry point; it
imports this package from its own directory):

    cli          the flags (--help), their checks, main()
    server       the HTTP handler and server, serve(): listen, URL, signals
    state        the Emulator: data views, keys, counters, request log, with
                 the methods of the modules below mixed in
    api          the /v1/dev routes and their answers
    admin        the admin API under /_emulator/
    dialects     the documented and backend shapes, errors, query parameters
    rate_limits  limits, windows, buckets, 429s
    faults       fault settings, dice, stalls, injected errors, page shifts
    data         the seeded dataset: word lists, Generator, load_dataset()
    hard_cases   the conversations planted on purpose (every one when N >= 19)
    common       prefixes, patterns, time helpers, JSON, Reply
"""
