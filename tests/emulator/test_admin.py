"""The admin API, stats, the request log, and the process contract (URL line, SIGTERM)."""

import json
import os
import signal
import subprocess
import time

import pytest

from emulator import EMULATOR, PYTHON, TEST_KEY, Emulator, EmulatorError, UNLIMITED

PROFILES = ["documented", "backend"]


def ids(objs):
    return [o["id"] for o in objs]


@pytest.mark.parametrize("profile", PROFILES)
def test_conversation_changes_show_in_api(emulator_factory, profile):
    emu = emulator_factory(*UNLIMITED, profile=profile)
    before = emu.list_all("/user/conversations", page=100)
    added = emu.add("conversations", {"id": "new/conv 1", "structured": {"title": "Fresh", "category": "work"},
                                      "transcript_segments": [{"text": "hello", "speaker_id": 0,
                                                               "speaker_name": "You", "start": 0.0, "end": 1.0}]})
    assert added["id"] == "new/conv 1"
    first = emu.get_json("/user/conversations", {"limit": 1, "include_transcript": "true"})[0]
    assert first["id"] == "new/conv 1"                     # created now: the newest
    assert first["structured"]["title"] == "Fresh"
    assert first["structured"]["category"] == "work"
    assert first["structured"]["action_items"] == [] and first["structured"]["events"] == []
    assert first["language"] and first["source"] and first["created_at"]
    assert first["transcript_segments"][0]["text"] == "hello"
    emu.patch("conversations", "new/conv 1", {"structured": {"title": "Renamed"}})
    first = emu.get_json("/user/conversations", {"limit": 1})[0]
    assert first["structured"]["title"] == "Renamed" and first["structured"]["category"] == "work"
    if profile == "backend":
        got = emu.get_json("/user/conversations/new%2Fconv%201")
        assert got["structured"]["title"] == "Renamed"
    # lock / discard at run time
    victim = before[5]["id"]
    emu.patch("conversations", victim, {"_discarded": True})
    assert victim not in ids(emu.list_all("/user/conversations", page=100))
    emu.patch("conversations", victim, {"_discarded": False})
    assert victim in ids(emu.list_all("/user/conversations", page=100))
    emu.delete("conversations", "new/conv 1")
    after = emu.list_all("/user/conversations", page=100)
    assert ids(after) == ids(before)
    with pytest.raises(EmulatorError):
        emu.delete("conversations", "new/conv 1")
    with pytest.raises(EmulatorError):
        emu.add("conversations", {"id": before[0]["id"]})     # ids are unique


@pytest.mark.parametrize("profile", PROFILES)
def test_memory_and_action_item_changes(emulator_factory, profile):
    emu = emulator_factory(*UNLIMITED, profile=profile)
    m = emu.add("memories", {"content": "added memory", "category": "core", "scoring": 10 ** 6})
    assert m["id"]
    top = emu.get_json("/user/memories", {"limit": 1})[0]
    assert top["id"] == m["id"] and top["content"] == "added memory"
    emu.patch("memories", m["id"], {"content": "patched"})
    assert emu.get_json("/user/memories", {"limit": 1})[0]["content"] == "patched"
    emu.delete("memories", m["id"])
    assert m["id"] not in ids(emu.list_all("/user/memories", page=200))

    conv = emu.data()["conversations"][0]
    n_before = len(conv["structured"]["action_items"])
    a = emu.add("action-items", {"description": "Buy milk / eggs", "conversation_id": conv["id"]})
    items = emu.get_json("/user/action-items", {"conversation_id": conv["id"]})
    assert a["id"] in ids(items)
    first = emu.get_json("/user/conversations", {"limit": 100})
    c = next(x for x in first if x["id"] == conv["id"])
    assert len(c["structured"]["action_items"]) == n_before + 1
    assert any(e["description"] == "Buy milk / eggs" and "id" not in e for e in c["structured"]["action_items"])
    emu.patch("action-items", a["id"], {"completed": True, "completed_at": "2025-06-30T10:00:00Z"})
    assert a["id"] in ids(emu.get_json("/user/action-items", {"completed": "true", "limit": 1000}))
    emu.patch("action-items", a["id"], {"conversation_id": None})
    assert a["id"] in ids(emu.get_json("/user/action-items", {"conversation_id": "null"}))
    c = next(x for x in emu.data()["conversations"] if x["id"] == conv["id"])
    assert len(c["structured"]["action_items"]) == n_before
    emu.delete("action-items", a["id"])
    assert a["id"] not in ids(emu.list_all("/user/action-items", page=500))


def test_hostile_ids_through_admin_paths(emulator_factory):
    emu = emulator_factory("--hostile-ids", *UNLIMITED, profile="backend")
    for hid in ("a/b/c", ".", "..", "nul\x00id", "ctl\x01\x1b[31m\x7f\n\tid"):
        emu.patch("memories", hid, {"content": "patched %r" % hid})
        assert emu.get("memories", hid)["content"] == "patched %r" % hid
    emu.delete("conversations", "..")
    assert ".." not in ids(emu.data()["conversations"])


@pytest.mark.parametrize("profile", PROFILES)
def test_data_views(emulator_factory, profile):
    emu = emulator_factory(*UNLIMITED, profile=profile)
    view, raw = emu.data(), emu.data(all=True)
    assert set(raw) == {"conversations", "memories", "action_items", "goals"}
    # The documented API has no goals: a client there sees none.
    assert set(view) == set(raw) - ({"goals"} if profile == "documented" else set())
    assert len(raw["conversations"]) == 60
    discarded = {c["id"] for c in raw["conversations"] if c.get("_discarded")}
    locked = {c["id"] for c in raw["conversations"] if c.get("_locked")}
    shown = set(ids(view["conversations"]))
    assert not discarded & shown
    assert bool(locked & shown) == (profile == "documented")
    assert all(isinstance(c["transcript_segments"], list) for c in view["conversations"])
    assert "_locked" not in json.dumps(view)
    # in the API's order
    assert ids(view["memories"]) == ids(emu.get_json("/user/memories", {"limit": 1000}))
    assert ids(view["action_items"]) == ids(emu.get_json("/user/action-items", {"limit": 1000}))
    info = emu.info()
    assert info["profile"] == profile and info["base_url"] == emu.url
    assert info["counts"] == {"conversations": 60, "memories": 80, "action_items": 50, "goals": 5}


def test_stats(emulator_factory):
    emu = emulator_factory(*UNLIMITED, profile="backend")
    cid = emu.data()["conversations"][0]["id"]
    emu.api("GET", "/user/conversations", {"include_transcript": "true"})
    emu.api("GET", "/user/conversations")
    emu.api("GET", "/user/conversations/" + cid, {"include_transcript": "true"})
    emu.api("GET", "/user/conversations/missing")
    emu.api("GET", "/user/memories", key=None)
    emu.api("GET", "/user/memories", {"limit": "x"})
    emu.api("POST", "/keys", body={"name": "x"})
    st = emu.stats()
    assert st["total"] == 7 == emu.requests_total()
    assert st["by_endpoint"]["GET /user/conversations"] == {"200": 2}
    assert st["by_endpoint"]["GET /user/conversations/{id}"] == {"200": 1, "404": 1}
    assert st["by_endpoint"]["GET /user/memories"] == {"401": 1, "422": 1}
    assert st["by_endpoint"]["POST /keys"] == {"200": 1}
    assert st["by_status"] == {"200": 4, "404": 1, "401": 1, "422": 1}
    assert st["transcript_requests"] == 2
    emu.data()
    assert emu.requests_total() == 7                       # admin calls are not counted
    emu.reset_stats()
    assert emu.stats() == {"total": 0, "by_endpoint": {}, "by_status": {}, "transcript_requests": 0, "faults": {}}


def test_log_file_and_url_file(tmp_path):
    log, url_file = tmp_path / "req.log", tmp_path / "url"
    with Emulator("--log", str(log), "--url-file", str(url_file), "--fail-next", "1") as emu:
        assert url_file.read_text().strip() == emu.url
        emu.api("GET", "/user/memories", {"limit": 2})
        emu.api("GET", "/user/conversations", {"limit": 2, "categories": "work,personal"})
        emu.data()
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert len(lines) == 2
    for ln in lines:
        assert {"t", "method", "path", "query", "status", "bytes", "ms"} <= set(ln)
        assert isinstance(ln["ms"], (int, float)) and ln["bytes"] > 0
    assert (lines[0]["path"], lines[0]["query"], lines[0]["status"]) == ("/v1/dev/user/memories", "limit=2", 500)
    assert lines[0]["fault"] == "fail_next"
    assert lines[1]["status"] == 200 and "categories=work%2Cpersonal" in lines[1]["query"]


def test_process_contract(tmp_path):
    proc = subprocess.Popen([PYTHON, str(EMULATOR), "--key", TEST_KEY, "--conversations", "5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline().strip()
        assert first.startswith("http://127.0.0.1:") and first.endswith("/v1/dev")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
        out, err = proc.communicate(timeout=10)
        assert out == "" and err == ""                     # quiet by default
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    emu = Emulator().start()
    pid = emu.proc.pid
    assert emu.stop() == 0
    assert emu.stop() is not None                          # idempotent
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_help_documents_every_flag():
    out = subprocess.run([PYTHON, str(EMULATOR), "--help"], capture_output=True, text=True, timeout=30).stdout
    for flag in ("--host", "--port", "--url-file", "--profile", "--verbose", "--log", "--key", "--key-file",
                 "--seed", "--conversations", "--memories", "--action-items", "--segments", "--days",
                 "--hostile-ids", "--data", "--dump-data", "--window-scale", "--limit", "--fault-seed",
                 "--latency-ms", "--error-rate", "--error-status", "--malformed-rate", "--truncate-rate",
                 "--drop-rate", "--stall-rate", "--stall-seconds", "--wrong-types-rate", "--fail-next",
                 "--fault-paths", "--retry-after"):
        assert flag in out
    bad = subprocess.run([PYTHON, str(EMULATOR), "--limit", "bogus=3"], capture_output=True, timeout=30)
    assert bad.returncode == 2
    bad = subprocess.run([PYTHON, str(EMULATOR), "--key", "nope"], capture_output=True, timeout=30)
    assert bad.returncode == 2


def test_verbose_logs_to_stderr():
    with Emulator("--verbose") as emu:
        emu.api("GET", "/user/memories")
        deadline = time.monotonic() + 5
        while "/user/memories" not in emu.stderr_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "/user/memories" in emu.stderr_text()
