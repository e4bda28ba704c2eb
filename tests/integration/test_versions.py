"""The copy never silently differs from the account: what a backup of the mount keeps
when the server edits in place, locks, shifts a page, answers empty or shrinks, and
what omifs sync says of a damaged cache."""

import json
import os
import signal
import subprocess
import time

import pytest

import reference
from emulator import UNLIMITED
from fsutil import BACKUP_EXCLUDES, files_under, read, wait_for
from mount import run_omifs


def rsync(*args):
    return subprocess.run(["rsync", *args], capture_output=True, text=True, timeout=300)


def status(m):
    return read(m.p(".omifs", "status"))


def requests_for(emu, path):
    """How many GET requests for path the emulator has answered."""
    return sum(emu.stats()["by_endpoint"].get("GET " + path, {}).values())


def refresh_and_wait(m, emu, path):
    """Asks the mount to list everything again and waits until the listing of path
    is over (no request for 1 s after a new one) and committed."""
    before = requests_for(emu, path)
    m.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: requests_for(emu, path) > before, timeout=30)
    seen = -1
    while seen != requests_for(emu, path):
        seen = requests_for(emu, path)
        time.sleep(1)


def memory_path(m, memory):
    return m.p("memories", memory["category"], memory["id"] + ".txt")


def same_length_text(text):
    """text with one letter changed: same length, other bytes."""
    i = next(i for i, ch in enumerate(text) if ch.isalpha() and ch.isascii())
    return text[:i] + ("x" if text[i] != "x" else "y") + text[i + 1:]


@pytest.mark.parametrize("profile", ["documented", "backend"])
def test_a_same_size_edit_reaches_the_next_rsync(profile, emulator_factory, mount_factory, tmp_path):
    emu = emulator_factory(*UNLIMITED, "--conversations", "8", profile=profile)
    data = emu.data()
    m = mount_factory(emu.url, "ttl=1", "refresh=3600", "full_refresh=3600")
    backup = str(tmp_path / "backup") + "/"
    first = rsync("-a", *BACKUP_EXCLUDES, m.path + "/", backup)
    assert first.returncode == 0, first.stderr

    conv = data["conversations"][0]
    title = conv["structured"]["title"]
    new_title = same_length_text(title)
    memory = next(x for x in data["memories"] if len(x["content"]) > 5)
    new_content = same_length_text(memory["content"])
    emu.patch("conversations", conv["id"], {"structured": {"title": new_title}})
    emu.patch("memories", memory["id"], {"content": new_content})
    day = reference.local_day(reference.parse_time(conv["created_at"]), 0)
    summary = m.p("conversations", day, conv["id"], "summary.md")
    size_before = os.stat(summary).st_size
    m.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: new_title in read(summary) and read(memory_path(m, memory)) == new_content + "\n",
             timeout=30)
    assert os.stat(summary).st_size == size_before

    second = rsync("-a", "--itemize-changes", *BACKUP_EXCLUDES, m.path + "/", backup)
    assert second.returncode == 0, second.stderr
    copied = second.stdout
    assert "summary.md" in copied and memory["id"] + ".txt" in copied
    # A transcript whose bytes did not move kept its mtime: rsync left it alone.
    assert "transcript.txt" not in copied
    diff = subprocess.run(["diff", "-r", *[f"--exclude={x}" for x in ("vault", ".omifs", "*.jsonl")],
                           m.path, backup], capture_output=True, text=True, timeout=120)
    assert diff.returncode == 0, diff.stdout[:2000]
    # The mtime moved with the bytes and stays put after them.
    mtime = os.stat(summary).st_mtime
    assert mtime >= time.time() - 120
    m.proc.send_signal(signal.SIGHUP)
    time.sleep(2)
    assert os.stat(summary).st_mtime == mtime


def stub_of(text):
    return text[:70] + "..."


@pytest.mark.parametrize("profile", ["documented", "backend"])
def test_a_locked_memory_keeps_its_full_text(profile, emulator_factory, mount_factory):
    emu = emulator_factory(*UNLIMITED, profile=profile)
    full = ("Remember that the quarterly review moved to the big room on the third floor, "
            "and bring the printed slides — Müller asked for paper copies.")
    emu.add("memories", {"id": "locked-memory", "content": full, "category": "work"})
    m = mount_factory(emu.url, "ttl=1", "refresh=3600", "full_refresh=3600", "xattr")
    path = m.p("memories", "work", "locked-memory.txt")
    assert read(path) == full + "\n"
    if profile == "backend":
        emu.lock("memories", "locked-memory")
        sent = next(x for x in emu.data()["memories"] if x["id"] == "locked-memory")
        assert sent["content"] == stub_of(full)
    else:
        # The documented API has no lock: a server sending the stub is the same case.
        emu.patch("memories", "locked-memory", {"content": stub_of(full)})
    refresh_and_wait(m, emu, "/user/memories")
    wait_for(lambda: "locked by the server: full text kept" in status(m), timeout=30)
    assert "1 memories locked by the server" in status(m)
    assert read(path) == full + "\n"
    assert os.getxattr(path, "user.omi.locked") == b"true"
    # A real edit replaces the text as usual.
    emu.lock("memories", "locked-memory", locked=False)
    emu.patch("memories", "locked-memory", {"content": "Moved back downstairs."})
    m.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: read(path) == "Moved back downstairs.\n", timeout=30)
    assert "locked by the server" not in status(m)
    with pytest.raises(OSError):
        os.getxattr(path, "user.omi.locked")


@pytest.mark.parametrize("profile", ["documented", "backend"])
def test_a_memory_skipped_by_a_shifted_page_is_never_absent(profile, emulator_factory, mount_factory):
    emu = emulator_factory(*UNLIMITED, profile=profile)
    m = mount_factory(emu.url, "ttl=1", "refresh=3600", "full_refresh=3600", "page_size=10")
    before = set(files_under(m.p("memories")))
    assert len(before) > 20
    emu.shift_page("memories")
    refresh_and_wait(m, emu, "/user/memories")
    wait_for(lambda: emu.stats()["faults"].get("shift_page", 0) == 1, timeout=30)
    wait_for(lambda: "1 missing from the last listing" in status(m), timeout=30)
    assert set(files_under(m.p("memories"))) == before
    # The next listing has it again: nothing pending, nothing gone.
    m.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "missing from the last listing" not in status(m), timeout=30)
    assert set(files_under(m.p("memories"))) == before


@pytest.mark.parametrize("profile", ["documented", "backend"])
def test_two_empty_listings_delete_nothing_without_the_persons_word(profile, emulator_factory,
                                                                     mount_factory, tmp_path):
    emu = emulator_factory(*UNLIMITED, "--conversations", "6", profile=profile)
    m = mount_factory(emu.url, "ttl=1", "refresh=3600", "full_refresh=3600")
    backup = str(tmp_path / "backup") + "/"
    assert rsync("-a", *BACKUP_EXCLUDES, m.path + "/", backup).returncode == 0
    kept = sorted(files_under(backup))
    action_items = [a["id"] for a in emu.data()["action_items"]]
    for ident in action_items:
        emu.delete("action-items", ident)
    for _ in range(2):
        refresh_and_wait(m, emu, "/user/action-items")
    wait_for(lambda: "deletions held back (the server listed none" in status(m), timeout=30)
    r = rsync("-a", "--delete", *BACKUP_EXCLUDES, m.path + "/", backup)
    assert r.returncode in (0, 23), r.stderr
    assert sorted(files_under(backup)) == kept
    assert len(files_under(m.p("action-items"))) == len(action_items)
    # The person's word deletes them.
    out = run_omifs("refresh", "--accept-deletions", m.path)
    assert out.returncode == 0, out.stderr
    wait_for(lambda: files_under(m.p("action-items")) == {}, timeout=30)
    assert "held back" not in status(m)


def test_a_slow_shrink_within_a_day_is_held(emulator_factory, mount_factory):
    emu = emulator_factory(*UNLIMITED, profile="backend")
    memories = [x["id"] for x in emu.data()["memories"]]
    assert len(memories) >= 20
    # A dozen refreshes in a minute: more than the documented budget allows.
    m = mount_factory(emu.url, "ttl=1", "refresh=3600", "full_refresh=3600", "max_per_minute=1000")
    total = len(memories)
    gone = 0
    # Two at a time, each confirmed by two listings: below a quarter at every step,
    # but not over the day.
    while (gone + 2) * 100 <= total * 25:
        for ident in memories[gone:gone + 2]:
            emu.delete("memories", ident)
        gone += 2
        for _ in range(2):
            refresh_and_wait(m, emu, "/user/memories")
        wait_for(lambda: len(files_under(m.p("memories"))) == total - gone, timeout=30)
    for ident in memories[gone:gone + 2]:
        emu.delete("memories", ident)
    for _ in range(2):
        refresh_and_wait(m, emu, "/user/memories")
    wait_for(lambda: "within a day" in status(m), timeout=30)
    assert len(files_under(m.p("memories"))) == total - gone
    assert "2 deletions held back" in status(m)


def test_a_damaged_cache_fails_the_sync(emulator_factory, tmp_path):
    emu = emulator_factory(*UNLIMITED, "--conversations", "120")
    home = str(tmp_path / "cache")
    first = run_omifs("sync", "-q", "--json", "-o", "url=" + emu.url, cache_home=home, timeout=120)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["result"] == "done"
    check = run_omifs("sync", "--check", "-o", "url=" + emu.url, cache_home=home)
    assert check.returncode == 0, check.stderr
    (cache,) = [os.path.join(d, f) for d, _, fs in os.walk(home) for f in fs if f.endswith(".sqlite")]
    size = os.path.getsize(cache)
    assert size > 200 * 1024
    with open(cache, "r+b") as f:
        for at in (size // 3, size // 2, 2 * size // 3):
            f.seek(at - at % 4096)
            f.write(bytes((i * 37 + 11) % 256 for i in range(8192)))
    again = run_omifs("sync", "--json", "-o", "url=" + emu.url, cache_home=home, timeout=120)
    assert again.returncode != 0, again.stderr
    if again.stdout:
        assert json.loads(again.stdout)["result"] == "failed"
    check = run_omifs("sync", "--check", "--json", "-o", "url=" + emu.url, cache_home=home)
    assert check.returncode == 3, check.stderr
    assert json.loads(check.stdout)["result"] == "damaged"
    assert "damaged" in check.stderr
