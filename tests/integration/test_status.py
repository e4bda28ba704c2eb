"""What a mount says of itself, for programs: status.json and metrics."""

import json
import os
import re
import subprocess
import threading

from prometheus_client.parser import text_string_to_metric_families

from emulator import UNLIMITED
from mount import REPO, run_omifs

MAN = (REPO / "omifs.1").read_text()


def read_transcripts(m, n):
    done = 0
    for day in sorted(os.listdir(m.p("conversations"))):
        for conv in os.listdir(m.p("conversations", day)):
            with open(m.p("conversations", day, conv, "transcript.txt"), "rb") as f:
                f.read()
            done += 1
            if done == n:
                return


def list_every_collection(m):
    """A collection is listed when first asked for, so one not asked for
    may still be on its way when a test reads the figures."""
    for collection in ("memories", "action-items", "conversations"):
        os.listdir(m.p(collection))


def status_json(m):
    r = run_omifs("status", "--json", m.path, key=None)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def metrics(m):
    r = run_omifs("status", "--metrics", m.path, key=None)
    assert r.returncode == 0, r.stderr
    with open(m.p(".omifs", "metrics")) as f:
        assert f.read().split("\n")[0] == r.stdout.split("\n")[0]
    return {f.name: f for f in text_string_to_metric_families(r.stdout)}


def keys_of(value, path=""):
    """Every key of a JSON value, as dotted paths, collections' names
    replaced by NAME."""
    if isinstance(value, dict):
        for k, v in value.items():
            shown = "NAME" if path == "collections" else k
            yield f"{path}.{shown}".lstrip(".")
            yield from keys_of(v, f"{path}.{shown}".lstrip("."))
    elif isinstance(value, list):
        for v in value:
            yield from keys_of(v, path + "[]")


def test_status_json_holds_every_figure_and_each_key_is_documented(emulator_factory, mount_factory):
    emu = emulator_factory(*UNLIMITED)
    m = mount_factory(emu.url)
    list_every_collection(m)
    read_transcripts(m, 3)
    st = status_json(m)
    data = emu.data()
    # Every collection the server serves (the documented API has no goals).
    assert all(c["listed_at"] for c in st["collections"].values() if c["served"])
    assert st["collections"]["goals"]["served"] is False

    assert st["mode"] == "online" and st["pid"] > 0
    assert {k: v["items"] for k, v in st["collections"].items()} == {
        "memories": len(data["memories"]), "action-items": len(data["action_items"]),
        "conversations": len(data["conversations"]), "goals": 0}
    assert st["transcripts"]["cached"] >= 3 and st["transcripts"]["error"] is None
    cache = st["cache"]["path"]
    assert cache.startswith(m.dir) and os.path.getsize(cache) > 0 and st["cache"]["bytes"] > 0
    # Requests are counted once, as the server counts them: the key check too.
    assert st["requests"]["sent"] == emu.requests_total()
    assert st["requests"]["bytes_received"] > 0
    assert {p["policy"] for p in st["budget"]} == {"minute", "day"}
    # The same file through the mount, and the same figures as the text.
    with open(m.p(".omifs", "status.json")) as f:
        assert json.load(f)["collections"] == st["collections"]
    with open(m.p(".omifs", "status")) as f:
        assert f"in {cache}\n" in f.read()

    section = MAN[MAN.index(".SS .omifs/status.json"):]
    section = section[:section.index("\n.SS ")]
    documented = set(re.findall(r"\\fB([a-z_.\[\]A-Z-]+)\\fR", section))
    missing = sorted(set(keys_of(st)) - documented)
    assert not missing, f"keys of status.json not in omifs.1: {missing}"


def test_status_json_says_why_transcripts_fail_until_they_work_again(emulator_factory, mount_factory):
    emu = emulator_factory(*UNLIMITED)
    m = mount_factory(emu.url, "retries=0")
    os.listdir(m.p("conversations"))
    emu.set_faults(error_rate=1.0, error_status=503, paths="/user/conversations")
    day = sorted(os.listdir(m.p("conversations")))[0]
    conv = os.listdir(m.p("conversations", day))[0]
    try:
        with open(m.p("conversations", day, conv, "transcript.txt"), "rb") as f:
            f.read()
        raise AssertionError("the read succeeded during the fault")
    except OSError:
        pass
    st = status_json(m)["transcripts"]
    assert "503" in st["error"], st
    assert st["retry_at"] is not None
    with open(m.p(".omifs", "status")) as f:
        assert "the last fetch failed: " in f.read()

    emu.clear_faults()
    r = run_omifs("refresh", "--wait", m.path, key=None, timeout=60)
    assert r.returncode == 0, r.stderr
    with open(m.p("conversations", day, conv, "transcript.txt"), "rb") as f:
        assert f.read()
    assert status_json(m)["transcripts"]["error"] is None


def test_metrics_parse_and_their_counters_rise_with_requests(emulator_factory, mount_factory):
    emu = emulator_factory(*UNLIMITED)
    m = mount_factory(emu.url)
    list_every_collection(m)
    read_transcripts(m, 2)
    before = metrics(m)

    def total(families):
        return sum(s.value for s in families["omifs_requests"].samples)

    assert total(before) == emu.requests_total()
    routes = {(s.labels["route"], s.labels["policy"], s.labels["status"])
              for s in before["omifs_requests"].samples}
    assert ("/user/memories", "memories", "200") in routes
    assert ("/user/conversations", "transcripts", "200") in routes  # a transcript batch
    items = {s.labels["collection"]: s.value for s in before["omifs_items"].samples}
    assert items["memories"] == len(emu.data()["memories"])
    assert before["omifs_transcripts_cached"].samples[0].value >= 2
    listed = {s.labels["collection"] for s in
              before["omifs_last_complete_listing_timestamp_seconds"].samples}
    assert listed == {"memories", "action-items", "conversations"}
    reads = {s.name: s.value for s in before["omifs_read_duration_seconds"].samples
             if not s.name.endswith("_bucket")}
    assert reads["omifs_read_duration_seconds_count"] >= 2
    budget = {s.labels["policy"]: s.value for s in before["omifs_budget_used"].samples}
    left = {s.labels["policy"]: s.value for s in before["omifs_budget_left"].samples}
    assert budget["minute"] >= 1 and budget["minute"] + left["minute"] == 100
    # The current picture of the tree, and the one it replaced while the
    # kernel may hold that one's sizes: two at most, with no reader about.
    assert 1 <= before["omifs_snapshots"].samples[0].value <= 2
    assert before["omifs_snapshot_bytes"].samples[0].value > 1000

    r = run_omifs("refresh", "--wait", m.path, key=None, timeout=60)
    assert r.returncode == 0, r.stderr
    category = sorted(os.listdir(m.p("memories")))[0]
    memory = sorted(os.listdir(m.p("memories", category)))[0]
    with open(m.p("memories", category, memory), "rb") as f:
        assert f.read()  # small: one read reaches the mount
    after = metrics(m)
    assert total(after) == emu.requests_total() > total(before)
    assert after["omifs_received_bytes"].samples[0].value > before["omifs_received_bytes"].samples[0].value
    count = [s.value for s in after["omifs_read_duration_seconds"].samples
             if s.name == "omifs_read_duration_seconds_count"][0]
    # The read above counts; reading .omifs's own files does not.
    assert count == reads["omifs_read_duration_seconds_count"] + 1
    assert after["omifs_refreshes"].samples[0].value == 1


def test_status_options_are_checked(emulator_factory, mount_factory):
    r = run_omifs("status", "--json", "--metrics", "/nonexistent", key=None)
    assert r.returncode == 1 and "not both" in r.stderr
    r = run_omifs("search", "--metrics", "x", key=None)
    assert r.returncode == 2 and "--metrics goes with omifs status" in r.stderr


def test_status_files_read_while_refreshes_run_are_one_version(emulator_factory, mount_factory):
    """cat and omifs status, over and over while refreshes move the
    counters: every answer parses. cat reads once more at the end, where
    a busy mount had made a longer version: the output got its tail (a
    line '8' after the metrics, text after the JSON's closing brace)."""
    emu = emulator_factory(*UNLIMITED)
    m = mount_factory(emu.url)
    list_every_collection(m)
    stop = threading.Event()

    def refresh():
        for _ in range(300):
            if stop.is_set():
                return
            run_omifs("refresh", "--wait", m.path, key=None, timeout=60)

    def cat(name):
        return subprocess.run(["cat", m.p(".omifs", name)], capture_output=True, text=True,
                              timeout=30).stdout

    bad = []
    refresher = threading.Thread(target=refresh)
    refresher.start()
    try:
        for _ in range(150):
            for name, out in (("metrics", cat("metrics")), ("status.json", cat("status.json")),
                              ("omifs status --metrics",
                               run_omifs("status", "--metrics", m.path, key=None).stdout)):
                try:
                    if name == "status.json":
                        json.loads(out)
                    else:
                        list(text_string_to_metric_families(out))
                except ValueError:
                    bad.append((name, out[-200:]))
    finally:
        stop.set()
        refresher.join(timeout=120)
    assert not refresher.is_alive()
    assert not bad, bad[:2]
