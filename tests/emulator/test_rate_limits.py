"""Rate limits of both profiles, with scaled windows so they are reached in seconds."""

import json
import time

from emulator import Emulator

OTHER_KEY = "omi_dev_" + "e" * 32


def sleep_until(unix_time, cap=10.0):
    delay = unix_time - time.time()
    assert delay <= cap, "refusing to sleep %.1fs" % delay
    if delay > 0:
        time.sleep(delay)


def test_documented_minute_and_day_limits():
    # minute window 4.8 s; 2 requests a minute per key, 5 a day per user
    args = ["--window-scale", "0.08", "--limit", "minute=2", "--limit", "day=5"]
    with Emulator(*args, profile="documented") as emu:
        emu.add_key(OTHER_KEY)
        t0 = time.time()
        resets = set()
        for want_remaining in (1, 0):
            status, h, _ = emu.api("GET", "/user/memories")
            assert status == 200
            assert h["X-RateLimit-Limit"] == "2"
            assert h["X-RateLimit-Remaining"] == str(want_remaining)
            resets.add(int(h["X-RateLimit-Reset"]))
        assert len(resets) == 1
        reset = resets.pop()
        assert t0 <= reset <= t0 + 4.8 + 1.5
        for _ in range(3):                       # refused requests do not use budget
            status, h, body = emu.api("GET", "/user/action-items")
            assert status == 429
            assert json.loads(body)["error"]["code"] == "rate_limit_exceeded"
            assert (h["X-RateLimit-Limit"], h["X-RateLimit-Remaining"]) == ("2", "0")
            assert int(h["X-RateLimit-Reset"]) == reset
            assert "Retry-After" not in h         # the documented API only promises X-RateLimit-*
        # the minute limit is per key: another key still gets through (day: 3 of 5 used)
        status, h, _ = emu.api("GET", "/user/memories", key=OTHER_KEY)
        assert status == 200 and h["X-RateLimit-Remaining"] == "1"
        sleep_until(reset + 0.05)
        # the minute bucket refilled; the 3 refused requests did not eat the day budget
        status, h, _ = emu.api("GET", "/user/memories")
        assert status == 200 and h["X-RateLimit-Limit"] == "2" and h["X-RateLimit-Remaining"] == "1"
        status, h, _ = emu.api("GET", "/user/memories")
        assert status == 200                     # day: 5 of 5 used
        status, h, _ = emu.api("GET", "/user/memories", key=OTHER_KEY)
        assert status == 429
        assert (h["X-RateLimit-Limit"], h["X-RateLimit-Remaining"]) == ("5", "0")
        assert int(h["X-RateLimit-Reset"]) >= time.time() + 6000    # the day window is 115 min
        stats = emu.stats()
        assert stats["by_status"]["429"] == 4
        # the admin reset refills every bucket
        emu.reset_rate_limits()
        status, h, _ = emu.api("GET", "/user/memories")
        assert status == 200 and h["X-RateLimit-Remaining"] == "1"


def test_documented_headers_on_every_response():
    with Emulator("--limit", "minute=50", profile="documented") as emu:
        for method, path, query in (("GET", "/user/memories", None), ("GET", "/user/memories", {"limit": "x"}),
                                    ("GET", "/nope", None), ("GET", "/keys", None),
                                    ("POST", "/keys", None)):
            status, h, _ = emu.api(method, path, query, body={"name": "k"} if method == "POST" else None)
            assert all(k in h for k in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")), \
                (path, status)
        status, h, _ = emu.api("GET", "/user/memories")
        assert h["X-RateLimit-Limit"] == "50"
        assert h["X-RateLimit-Remaining"] == str(50 - 5)    # the 404 did not count, the rest did
        assert time.time() - 1 <= int(h["X-RateLimit-Reset"]) <= time.time() + 61


def test_backend_policy_buckets():
    # hour window 4.68 s
    args = ["--window-scale", "0.0013", "--limit", "memories=3", "--limit", "transcripts=2",
            "--limit", "conversations=4", "--limit", "conversation=50"]
    with Emulator(*args, profile="backend") as emu:
        for _ in range(3):
            status, h, _ = emu.api("GET", "/user/memories")
            assert status == 200
            assert not any(k.lower().startswith("x-ratelimit") for k in h) and "Retry-After" not in h
        t = time.time()
        status, h, body = emu.api("GET", "/user/memories")
        assert status == 429
        assert isinstance(json.loads(body)["detail"], str)
        retry = int(h["Retry-After"])
        assert 1 <= retry <= 5
        assert h["X-RateLimit-Limit"] == "3" and h["X-RateLimit-Remaining"] == "0"
        # other policies have their own buckets
        assert emu.api("GET", "/user/action-items")[0] == 200
        # transcripts: 2 an "hour", shared by the list and the single conversation
        conv_id = emu.data()["conversations"][0]["id"]
        for _ in range(2):
            assert emu.api("GET", "/user/conversations", {"include_transcript": "true"})[0] == 200
        for path in ("/user/conversations", "/user/conversations/" + conv_id) * 3:
            status, h, _ = emu.api("GET", path, {"include_transcript": "true"})
            assert status == 429
            assert h["X-RateLimit-Limit"] == "2" and int(h["Retry-After"]) >= 1
        assert emu.api("GET", "/user/conversations/" + conv_id)[0] == 200
        # the six refused transcript reads did not use the conversation-list bucket (2 of 4 used)
        assert emu.api("GET", "/user/conversations")[0] == 200
        assert emu.api("GET", "/user/conversations")[0] == 200
        status, h, _ = emu.api("GET", "/user/conversations")
        assert status == 429 and h["X-RateLimit-Limit"] == "4"
        assert emu.stats()["transcript_requests"] == 2
        # after Retry-After the bucket has refilled
        sleep_until(t + retry + 0.05)
        assert emu.api("GET", "/user/memories")[0] == 200
        assert emu.api("GET", "/user/conversations", {"include_transcript": "1"})[0] == 200


def test_backend_keys_not_limited_and_admin_reset():
    with Emulator("--limit", "memories=1", profile="backend") as emu:
        assert emu.api("GET", "/user/memories")[0] == 200
        assert emu.api("GET", "/user/memories")[0] == 429
        for _ in range(5):
            assert emu.api("GET", "/keys")[0] == 200
        state = emu.admin("GET", "/rate-limits")
        assert state["memories"]["remaining"] == 0
        emu.reset_rate_limits()
        assert emu.api("GET", "/user/memories")[0] == 200
        # admin calls are never limited
        for _ in range(5):
            emu.data()
