"""Answers a real server would rarely give and a hostile one would: each
test serves them from a stand-in (tests/helpers/standin.py) and checks
that omifs stays calm, bounded and loses nothing (issue 10's findings,
and issue 11's items without a usable id)."""

import os
import re
import signal
import subprocess
import threading
import time
from datetime import datetime, timezone

from fsutil import BACKUP_EXCLUDES, files_under, read, wait_for
from standin import StandIn, page

MEMORIES = [{"id": "m%d" % i, "content": "memory %d" % i, "category": "core",
             "created_at": "2025-01-0%dT10:00:00Z" % (i + 1)} for i in range(6)]
ACTION_ITEMS = [{"id": "a%d" % i, "description": "item %d" % i, "completed": i % 2 == 0,
                 "created_at": "2025-01-02T10:00:00Z"} for i in range(4)]
CONVERSATIONS = [{"id": "c%d" % i, "created_at": "2025-03-0%dT10:00:00Z" % (i + 1), "started_at": None,
                  "finished_at": None, "language": "en", "source": "omi",
                  "structured": {"title": "Talk %d" % i, "category": "other"}} for i in range(5)]


class Server:
    """The stand-in's data, which a test changes while mounted."""

    def __init__(self):
        self.data = {"/user/memories": list(MEMORIES), "/user/action-items": list(ACTION_ITEMS),
                     "/user/conversations": list(CONVERSATIONS)}
        self.override = None  # answer(req) -> (status, headers, body), or None for the data

    def answer(self, req):
        if self.override:
            got = self.override(req)
            if got is not None:
                return got
        for suffix, items in self.data.items():
            if req.path.endswith(suffix):
                if req.query.get("include_transcript") == "true":
                    items = [dict(c, transcript_segments=[{"text": "said " + c["id"], "speaker_id": 0,
                                                           "start": 0.0, "end": 1.0}]) for c in items]
                return 200, {"Content-Type": "application/json"}, page(items, req)
        return 404, {}, {"detail": "Not Found"}


def started(server):
    return StandIn(server.answer).start()


def status(m):
    return read(m.p(".omifs", "status"))


def test_a_hanging_listing_holds_up_only_its_own_collection(mount_factory):
    server = Server()
    srv = None

    def hang_conversations(req):
        if req.path.endswith("/user/conversations"):
            def trickle(w):
                w.write(b"[")
                w.flush()
                srv.stopping.wait(60)
            return 200, {"Content-Type": "application/json"}, trickle
        return None

    server.override = hang_conversations
    srv = started(server)
    try:
        m = mount_factory(srv.url, "timeout=5")
        hung = threading.Thread(target=lambda: os.path.isdir(m.p("conversations")), daemon=True)
        hung.start()
        time.sleep(1)
        t = time.monotonic()
        assert "omifs" in status(m)
        assert sorted(os.listdir(m.p("memories", "core"))) == ["m%d.txt" % i for i in range(6)]
        assert time.monotonic() - t < 3, "status and memories waited for the conversations listing"
        # SIGTERM while the listing is in flight: the request is cancelled.
        t = time.monotonic()
        m.proc.send_signal(signal.SIGTERM)
        assert m.proc.wait(timeout=20) == 0
        assert time.monotonic() - t < 5, "omifs took %.1f s to stop" % (time.monotonic() - t)
        hung.join(timeout=10)
    finally:
        srv.stop()


def paused_until(text):
    found = re.search(r"^paused +by the server until (\S+)", text, re.M)
    return found and datetime.strptime(found.group(1), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def test_a_server_cannot_pause_the_mount_for_decades(mount_factory):
    for headers in ({"Retry-After": "1000000000"}, {"Retry-After": "inf"}, {"Retry-After": "1e300"},
                    {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "99999999999"}):
        server = Server()
        srv = started(server)
        try:
            m = mount_factory(srv.url, "refresh=3600", "full_refresh=3600", "retries=0")
            assert os.listdir(m.p("conversations"))
            server.override = lambda req, h=headers: (429, h, {"detail": "slow down"})
            m.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: paused_until(status(m)) is not None)
            until = paused_until(status(m))
            assert until.timestamp() <= time.time() + 3600 + 5, (headers, until)
            assert m.proc.poll() is None
            # A refresh asked for by hand goes out at once, pause or not.
            server.override = None
            before = srv.count("/user/conversations")
            m.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: srv.count("/user/conversations") > before)
            wait_for(lambda: paused_until(status(m)) is None)
        finally:
            srv.stop()


def backup_files(path):
    return sorted(files_under(path))


def rsync(*args):
    return subprocess.run(["rsync", *args], capture_output=True, text=True, timeout=120)


def test_an_empty_answer_does_not_erase_the_backup(mount_factory, tmp_path):
    server = Server()
    srv = started(server)
    try:
        m = mount_factory(srv.url, "refresh=3600", "full_refresh=3600")
        backup = str(tmp_path / "backup") + "/"
        assert rsync("-a", *BACKUP_EXCLUDES, m.path + "/", backup).returncode == 0
        before = backup_files(backup)
        assert len(before) == 6 + 4 + 5 * 4
        server.override = lambda req: (200, {}, [])
        m.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: status(m).count("missing from the last listing") == 3)
        # The same answer on the next complete listing agrees, and is held
        # back all the same: the server listed none of them.
        m.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: status(m).count("deletions held back (the server listed none") == 3)
        r = rsync("-a", "--delete", *BACKUP_EXCLUDES, m.path + "/", backup)
        assert r.returncode in (0, 23), r.stderr
        assert backup_files(backup) == before
        assert "6 deletions held back" in status(m)
        # Until the person's word.
        m.proc.send_signal(signal.SIGUSR1)
        wait_for(lambda: "held back" not in status(m))
        wait_for(lambda: os.listdir(m.p("memories")) == [], timeout=30)
    finally:
        srv.stop()


def test_a_small_deletion_is_applied_at_the_second_listing(mount_factory):
    server = Server()
    srv = started(server)
    try:
        m = mount_factory(srv.url, "refresh=3600", "full_refresh=3600", "ttl=1")
        assert len(os.listdir(m.p("memories", "core"))) == 6
        server.data["/user/memories"] = MEMORIES[1:]
        m.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "1 missing from the last listing" in status(m))
        assert len(os.listdir(m.p("memories", "core"))) == 6
        m.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: len(os.listdir(m.p("memories", "core"))) == 5)
        assert "missing from the last listing" not in status(m)
        assert "held back" not in status(m)
    finally:
        srv.stop()


def test_an_item_without_an_id_is_skipped_and_deletes_nothing(mount_factory):
    server = Server()
    server.data["/user/memories"] = MEMORIES + [{"content": "no id at all", "category": "core"},
                                                {"id": "", "content": "empty id"},
                                                {"id": {"nested": 1}, "content": "object id"}]
    srv = started(server)
    try:
        m = mount_factory(srv.url, "refresh=3600", "full_refresh=3600", "ttl=1")
        assert sorted(os.listdir(m.p("memories", "core"))) == ["m%d.txt" % i for i in range(6)]
        assert "3 skipped (no usable id)" in status(m)
        # m0 vanishes in the same listing that skips items: it stays.
        server.data["/user/memories"] = MEMORIES[1:] + [{"content": "no id", "category": "core"}]
        m.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "1 skipped" in status(m))
        # An incomplete listing neither deletes nor counts.
        assert "missing from the last listing" not in status(m)
        assert os.path.exists(m.p("memories", "core", "m0.txt"))
        # Two whole listings that agree delete again.
        server.data["/user/memories"] = MEMORIES[1:]
        m.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "1 missing from the last listing" in status(m))
        assert os.path.exists(m.p("memories", "core", "m0.txt"))
        m.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: not os.path.exists(m.p("memories", "core", "m0.txt")))
    finally:
        srv.stop()


def test_an_element_that_is_not_an_object_refuses_the_page(mount_factory):
    server = Server()
    server.data["/user/action-items"] = ACTION_ITEMS + ["not an object"]
    srv = started(server)
    try:
        m = mount_factory(srv.url, "retries=0")
        assert len(os.listdir(m.p("memories", "core"))) == 6
        try:
            os.listdir(m.p("action-items", "open"))
            raise AssertionError("a broken page was accepted")
        except OSError as e:
            assert e.errno == 5  # EIO: nothing to show, rather than an empty directory
    finally:
        srv.stop()


def test_an_answer_too_large_is_refused_early_and_not_retried(mount_factory):
    server = Server()
    srv = None

    def huge(req):
        if req.path.endswith("/user/conversations") and req.query.get("include_transcript") == "true":
            if req.query.get("start_date", "").startswith("2025-03-01"):
                return 200, {"Content-Length": str(200 << 20)}, b"["
            def stream(w):
                w.write(b"[" + b"1," * (1 << 19))
                for _ in range(140):  # 140 MiB, without a Content-Length
                    if srv.stopping.is_set():
                        return
                    w.write(b"1," * (1 << 19))
            return 200, {"Content-Type": "application/json"}, stream
        return None

    server.override = huge
    srv = started(server)
    try:
        transcript_requests = lambda: sum(1 for _, q in list(srv.requests) if q.get("include_transcript"))
        # One mount each: after a failed batch omifs waits before asking again.
        for day, cid in (("2025-03-01", "c0"), ("2025-03-02", "c1")):
            m = mount_factory(srv.url, "transcript_batch=1", "timeout=60")
            assert len(os.listdir(m.p("conversations"))) == 5
            before = transcript_requests()
            try:
                read(m.p("conversations", day, cid, "transcript.txt"))
                raise AssertionError("a huge answer was accepted")
            except OSError as e:
                assert e.errno == 5
            assert transcript_requests() == before + 1, "the huge answer was retried"
            peak_kib = int(next(line.split()[1] for line in open("/proc/%d/status" % m.proc.pid)
                                if line.startswith("VmHWM:")))
            assert peak_kib < 400 * 1024, peak_kib
            assert "larger than" in status(m)
    finally:
        srv.stop()


def test_url_with_userinfo_is_refused(tmp_path):
    from mount import run_omifs
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = run_omifs("-o", "url=http://127.0.0.1:x@192.0.2.2:18802/v1/dev", str(mnt))
    assert r.returncode == 1, r.stderr
    assert "user name or password" in r.stderr
