"""The change feed: .omifs/changes in the mount (followed by tail -f) and
omifs changes from the cache, each naming every change once."""

import json
import os
import queue
import subprocess
import threading
import time

import reference
from emulator import UNLIMITED
from fsutil import read, wait_for
from mount import OMIFS, base_env, run_omifs


def refresh(m):
    r = run_omifs("refresh", "--wait", m.path, key=None, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def feed_lines(m):
    return [json.loads(line) for line in read(m.p(".omifs", "changes")).splitlines()]


def summary(lines):
    return sorted((c["change"], c["collection"], c["id"]) for c in lines)


class LineReader:
    """Collects a child's stdout lines in a thread; the child is killed at close."""

    def __init__(self, args, env):
        self.proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.lines = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.put(line)

    def take(self, n, timeout=30):
        got, deadline = [], time.monotonic() + timeout
        while len(got) < n and time.monotonic() < deadline:
            try:
                got.append(self.lines.get(timeout=0.2))
            except queue.Empty:
                pass
        return got

    def close(self):
        self.proc.kill()
        self.proc.wait(timeout=10)
        return self.proc.stderr.read()


def cache_env(m):
    return base_env(TZ="UTC", XDG_CACHE_HOME=os.path.join(m.dir, "cache"))


def test_each_change_shows_once_in_the_mount_and_in_omifs_changes(emulator_factory, mount_factory):
    emu = emulator_factory(*UNLIMITED, profile="backend")
    data = emu.data()
    m = mount_factory(emu.url, "ttl=0")
    feed = m.p(".omifs", "changes")
    assert "changes" in os.listdir(m.p(".omifs"))
    tail = LineReader(["tail", "-f", "-s", "0.2", feed], base_env())
    try:
        # It starts empty, and a refresh that changes nothing adds nothing.
        assert os.stat(feed).st_size == 0
        refresh(m)
        assert os.stat(feed).st_size == 0 and read(feed) == ""

        edited, gone = data["conversations"][0], data["conversations"][1]
        memory = data["memories"][0]
        emu.add("conversations", {"id": "fresh-one", "created_at": "2025-06-20T08:00:00Z",
                                  "structured": {"title": "Fresh talk"}, "transcript_segments": []})
        emu.patch("conversations", edited["id"], {"structured": {"title": "A new title"}})
        emu.patch("memories", memory["id"], {"content": "An edited memory"})
        emu.delete("conversations", gone["id"])
        refresh(m)
        refresh(m)  # a deletion waits for a second listing that agrees
        lines = feed_lines(m)
        assert summary(lines) == sorted([
            ("added", "conversations", "fresh-one"),
            ("changed", "conversations", edited["id"]),
            ("changed", "memories", memory["id"]),
            ("removed", "conversations", gone["id"]),
        ])
        by_id = {c["id"]: c for c in lines}
        fresh = by_id["fresh-one"]
        assert fresh["path"] == "conversations/2025-06-20/fresh-one"
        assert fresh["title"] == "Fresh talk"
        assert os.path.isdir(m.p(fresh["path"]))
        assert "conversations.jsonl" in fresh["views"]
        assert "vault/Daily/2025-06-20.md" in fresh["views"]
        note = [v for v in fresh["views"] if v.startswith("vault/Conversations/")]
        assert note == ["vault/Conversations/2025-06-20 0800 Fresh talk.md"]
        for view in fresh["views"]:
            assert os.path.isfile(m.p(view)), view
        changed = by_id[memory["id"]]
        assert changed["path"] == "memories/%s/%s" % (memory["category"],
                                                     reference.safe_name(memory["id"], ".txt"))
        assert "An edited memory" in read(m.p(changed["path"]))
        assert "memories.jsonl" in changed["views"]
        assert "vault/Memories/%s.md" % memory["category"] in changed["views"]
        assert "title" not in changed
        assert not os.path.exists(m.p(by_id[gone["id"]]["path"]))
        assert by_id[edited["id"]]["title"] == "A new title"
        seqs = [c["seq"] for c in lines]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)

        # tail -f saw the same lines as they came.
        followed = [json.loads(line) for line in tail.take(len(lines))]
        assert followed == lines

        # Nothing changed: nothing added.
        size = os.stat(feed).st_size
        refresh(m)
        assert os.stat(feed).st_size == size
    finally:
        tail.close()

    # The same changes from the cache, without the mount's help.
    r = run_omifs("changes", "--json", "--since", "1h", key=None, cache_home=os.path.join(m.dir, "cache"))
    assert r.returncode == 0, r.stderr
    cached = [json.loads(line) for line in r.stdout.splitlines()]
    assert summary(cached) == summary(lines)
    assert {c["id"]: c["path"] for c in cached} == {c["id"]: c["path"] for c in lines}
    assert [c["views"] for c in cached if c["id"] == "fresh-one"] == [fresh["views"]]
    text = run_omifs("changes", key=None, cache_home=os.path.join(m.dir, "cache"))
    assert text.returncode == 0, text.stderr
    assert len(text.stdout.splitlines()) == len(lines)
    assert any("added    conversations/2025-06-20/fresh-one  Fresh talk" in line
               for line in text.stdout.splitlines())
    # Nothing since the future.
    later = run_omifs("changes", "--since", "2999-01-01", key=None, cache_home=os.path.join(m.dir, "cache"))
    assert later.returncode == 0 and later.stdout == ""


def test_omifs_changes_follows_a_mounts_refreshes(emulator_factory, mount_factory):
    emu = emulator_factory(*UNLIMITED)
    data = emu.data()
    m = mount_factory(emu.url, "ttl=0")
    refresh(m)
    emu.patch("conversations", data["conversations"][0]["id"], {"structured": {"title": "First edit"}})
    refresh(m)
    follow = LineReader([OMIFS, "changes", "--follow", "--json", "--since", "1d"], cache_env(m))
    try:
        first = follow.take(1)
        assert [json.loads(line)["title"] for line in first] == ["First edit"]
        emu.patch("conversations", data["conversations"][2]["id"], {"structured": {"title": "Second edit"}})
        refresh(m)
        second = follow.take(1)
        assert [json.loads(line)["title"] for line in second] == ["Second edit"]
        assert follow.proc.poll() is None
    finally:
        err = follow.close()
    assert "error" not in err.lower(), err


def test_bad_since_is_refused_with_the_forms_it_takes(emulator_factory, mount_factory):
    emu = emulator_factory(*UNLIMITED)
    m = mount_factory(emu.url)
    os.listdir(m.p("memories"))
    cache = os.path.join(m.dir, "cache")
    r = run_omifs("changes", "--since", "yesterday", key=None, cache_home=cache)
    assert r.returncode == 1 and "--since takes" in r.stderr
    r = run_omifs("changes", "--limit", "3", key=None, cache_home=cache)
    assert r.returncode == 1 and "omifs changes takes --since" in r.stderr
    r = run_omifs("search", "--follow", "x", key=None, cache_home=cache)
    assert r.returncode != 0 and "--follow goes with omifs changes" in r.stderr
    wait_for(lambda: run_omifs("changes", key=None, cache_home=cache).returncode == 0)
