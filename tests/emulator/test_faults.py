"""Fault injection: every fault type, fail_next, the paths filter, run-time switching."""

import http.client
import json
import signal
import threading
import time

import pytest

from emulator import TEST_KEY, Emulator, UNLIMITED

PROFILES = ["documented", "backend"]


@pytest.fixture(scope="module", params=PROFILES)
def emu(request):
    with Emulator(*UNLIMITED, profile=request.param) as e:
        yield e


@pytest.fixture(autouse=True)
def _clean(request):
    yield
    if "emu" in request.fixturenames:
        request.getfixturevalue("emu").clear_faults()


def raw_get(emu, path, timeout=10):
    """GET with http.client, so that broken answers can be looked at byte by byte."""
    conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=timeout)
    try:
        conn.request("GET", "/v1/dev" + path, headers={"Authorization": "Bearer " + TEST_KEY})
        resp = conn.getresponse()
        declared = int(resp.getheader("Content-Length"))
        chunks = []
        while True:
            try:
                chunk = resp.fp.read1(65536) if resp.fp else b""
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return resp.status, dict(resp.getheaders()), declared, b"".join(chunks)
    finally:
        conn.close()


def test_latency(emu):
    t = time.monotonic()
    assert emu.api("GET", "/user/memories")[0] == 200
    fast = time.monotonic() - t
    emu.set_faults(latency_ms=300)
    t = time.monotonic()
    assert emu.api("GET", "/user/memories")[0] == 200
    assert time.monotonic() - t >= 0.29
    t = time.monotonic()
    emu.data()                                    # the admin path never waits
    assert time.monotonic() - t < 0.25
    emu.clear_faults()
    t = time.monotonic()
    assert emu.api("GET", "/user/memories")[0] == 200
    assert time.monotonic() - t < fast + 0.25


@pytest.mark.parametrize("status", [500, 503, 402])
def test_error_rate(emu, status):
    emu.set_faults(error_rate=1.0, error_status=status)
    for path in ("/user/memories", "/user/action-items", "/user/conversations"):
        got, headers, body = emu.api("GET", path)
        assert got == status
        err = json.loads(body)
        if emu.profile == "documented":
            assert isinstance(err["error"]["message"], str) and err["error"]["code"]
            assert "X-RateLimit-Remaining" in headers
        elif status == 402:
            assert isinstance(err["detail"], dict)
        else:
            assert isinstance(err["detail"], str)
    emu.data()                                    # never faulted
    emu.clear_faults()
    assert emu.api("GET", "/user/memories")[0] == 200


def test_malformed(emu):
    emu.set_faults(malformed_rate=1.0)
    for _ in range(6):
        status, headers, body = emu.api("GET", "/user/memories")
        assert status == 200
        with pytest.raises(ValueError):
            json.loads(body)
    assert emu.stats()["faults"]["malformed"] >= 6


def test_truncate(emu):
    emu.set_faults(truncate_rate=1.0)
    status, headers, declared, body = raw_get(emu, "/user/conversations?limit=5")
    assert status == 200
    assert 0 < len(body) < declared
    with pytest.raises(http.client.IncompleteRead):
        emu.api("GET", "/user/memories")


def test_drop(emu):
    emu.set_faults(drop_rate=1.0)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError, OSError)):
        emu.api("GET", "/user/memories")
    conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=5)
    try:
        conn.request("GET", "/v1/dev/user/memories", headers={"Authorization": "Bearer " + TEST_KEY})
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            conn.getresponse()
    finally:
        conn.close()
    stats = emu.stats()
    assert stats["by_status"]["dropped"] >= 2


def test_wrong_types(emu):
    normal = emu.get_json("/user/conversations", {"limit": 3})
    emu.set_faults(wrong_types_rate=1.0)
    for path in ("/user/conversations", "/user/memories", "/user/action-items"):
        got = emu.get_json(path, {"limit": 3})              # valid JSON ...
        if isinstance(got, list):                            # ... of the wrong types
            assert any(not isinstance(o, dict) or not isinstance(o.get("id"), str) for o in got)
        else:
            assert not isinstance(got, list)
    assert emu.get_json("/user/conversations", {"limit": 3}) != normal


def test_fail_next(emu):
    emu.set_faults(fail_next=2)
    assert [emu.api("GET", "/user/memories")[0] for _ in range(3)] == [500, 500, 200]
    emu.set_faults(fail_next=1, error_status=429, retry_after=7)
    status, headers, body = emu.api("GET", "/user/memories")
    assert status == 429
    assert headers["Retry-After"] == "7" and headers["X-RateLimit-Remaining"] == "0"
    assert int(headers["X-RateLimit-Limit"]) > 0
    if emu.profile == "documented":
        assert json.loads(body)["error"]["code"] == "rate_limit_exceeded"
        assert time.time() + 5 <= int(headers["X-RateLimit-Reset"]) <= time.time() + 9
    else:
        assert isinstance(json.loads(body)["detail"], str)
    assert emu.api("GET", "/user/memories")[0] == 200
    assert emu.faults()["fail_next"] == 0


def test_paths_filter(emu):
    emu.set_faults(error_rate=1.0, paths="action-items")
    assert emu.api("GET", "/user/action-items")[0] == 500
    assert emu.api("GET", "/user/memories")[0] == 200
    assert emu.api("GET", "/user/conversations")[0] == 200
    emu.set_faults(paths="conversations")                  # switched at run time
    assert emu.api("GET", "/user/action-items")[0] == 200
    assert emu.api("GET", "/user/conversations")[0] == 500
    emu.set_faults(paths=None)                             # all paths again
    assert emu.api("GET", "/user/memories")[0] == 500


def test_stall_cut_short_by_clearing(emu):
    emu.set_faults(stall_rate=1.0, stall_seconds=20)
    result = {}

    def call():
        t = time.monotonic()
        result["status"] = emu.api("GET", "/user/memories", timeout=30)[0]
        result["took"] = time.monotonic() - t

    th = threading.Thread(target=call, daemon=True)
    th.start()
    time.sleep(0.6)
    assert th.is_alive(), "the request should be stalled"
    emu.data()                                             # admin is not stalled
    emu.clear_faults()
    th.join(10)
    assert not th.is_alive()
    assert result["status"] == 200
    assert 0.5 <= result["took"] < 5


def test_bad_fault_settings_are_refused(emu):
    for bad in ({"error_rate": 2}, {"nonsense": 1}, {"error_status": "500"}, {"latency_ms": -1}):
        status, _, body = emu._request("POST", emu.admin_url + "/faults", bad)
        assert status == 400, bad
    assert emu.faults()["error_rate"] == 0


def test_faults_from_flags_and_reproducible():
    args = ["--error-rate", "0.5", "--fault-seed", "7", "--fault-paths", "memories"]
    runs = []
    for _ in range(2):
        with Emulator(*args) as emu:
            runs.append([emu.api("GET", "/user/memories")[0] for _ in range(16)])
            assert emu.api("GET", "/user/action-items")[0] == 200
            assert emu.faults()["paths"] == "memories"
    assert runs[0] == runs[1]
    assert set(runs[0]) == {200, 500}
    with Emulator("--fail-next", "1", "--error-status", "503", profile="backend") as emu:
        assert emu.api("GET", "/user/memories")[0] == 503
        assert emu.api("GET", "/user/memories")[0] == 200
    with Emulator("--latency-ms", "200") as emu:
        t = time.monotonic()
        emu.api("GET", "/user/memories")
        assert time.monotonic() - t >= 0.19


def test_stall_does_not_block_shutdown():
    emu = Emulator("--stall-rate", "1", "--stall-seconds", "60").start()
    try:
        th = threading.Thread(target=lambda: pytest.raises(Exception, emu.api, "GET", "/user/memories",
                                                           timeout=30), daemon=True)
        th.start()
        time.sleep(0.5)
        t = time.monotonic()
        emu.proc.send_signal(signal.SIGTERM)
        assert emu.proc.wait(timeout=10) == 0
        assert time.monotonic() - t < 5
        th.join(10)
    finally:
        emu.stop()
