"""The disk cache: warm remounts, offline mounts, refreshes, omifs sync."""

import glob
import json
import os
import re
import signal
import stat
import subprocess
import time

import pytest

import reference
from fsutil import read, tree_bytes, wait_for
from emulator import TEST_KEY, UNLIMITED
from mount import OMIFS, run_omifs


def filled_cache(emu, mount_factory, tmp_path):
    """A cache directory filled by a mount that read everything, and what it read."""
    cache = tmp_path / "cache"
    first = mount_factory(emu.url, f"cache_dir={cache}")
    before = tree_bytes(first.path)
    first.cleanup()
    return cache, before


def test_cache_file_and_directory_are_private(emulator_factory, mount_factory, tmp_path):
    emu = emulator_factory(*UNLIMITED)
    cache = tmp_path / "deep" / "cache"
    m = mount_factory(emu.url, f"cache_dir={cache}")
    tree_bytes(m.path)
    files = glob.glob(str(cache / "*"))
    assert files and all(stat.S_IMODE(os.stat(f).st_mode) == 0o600 for f in files)
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o700
    for f in files:
        assert TEST_KEY not in os.path.basename(f)
        with open(f, "rb") as db:
            assert TEST_KEY.encode() not in db.read()


def test_warm_remount_lists_and_reads_everything_with_no_request(emulator_factory, mount_factory, tmp_path):
    emu = emulator_factory(*UNLIMITED)
    cache, before = filled_cache(emu, mount_factory, tmp_path)
    second = mount_factory(emu.url, f"cache_dir={cache}")
    emu.reset_stats()  # the mount's own key check is one request; count from here
    assert tree_bytes(second.path) == before
    subprocess.run(["ls", "-lR", second.path], capture_output=True, check=True, timeout=60)
    assert emu.requests_total() == 0


def test_offline_mount_serves_exactly_the_cache(emulator_factory, mount_factory, tmp_path):
    emu = emulator_factory(*UNLIMITED)
    cache, before = filled_cache(emu, mount_factory, tmp_path)
    url = emu.url
    emu.stop()
    m = mount_factory(url, f"cache_dir={cache}", "offline")
    assert tree_bytes(m.path) == before
    assert "offline" in read(m.p(".omifs", "status"))


def test_offline_without_cache_is_eio_not_empty(emulator_factory, mount_factory, tmp_path):
    emu = emulator_factory(*UNLIMITED)
    m = mount_factory(emu.url, f"cache_dir={tmp_path / 'empty'}", "offline")
    with pytest.raises(OSError) as e:
        os.listdir(m.p("memories"))
    assert e.value.errno == 5
    assert emu.requests_total() == 0


def test_no_disk_cache_writes_nothing(emulator_factory, mount_factory, tmp_path):
    emu = emulator_factory(*UNLIMITED)
    cache = tmp_path / "cache"
    m = mount_factory(emu.url, f"cache_dir={cache}", "no_disk_cache")
    tree_bytes(m.path)
    assert not cache.exists()


def test_sighup_refreshes_now_and_a_failing_refresh_removes_nothing(emulator_factory, mount_factory):
    emu = emulator_factory(*UNLIMITED)
    data = emu.data()
    m = mount_factory(emu.url, "ttl=1", "refresh=3600", "full_refresh=3600")
    tree_bytes(m.path)
    conv = data["conversations"][3]
    day = reference.local_day(reference.parse_time(conv["created_at"]), 0)
    summary = m.p("conversations", day, conv["id"], "summary.md")
    memory = data["memories"][0]
    memory_path = m.p("memories", memory["category"], memory["id"] + ".txt")

    emu.patch("conversations", conv["id"], {"structured": {"title": "Renamed by a test"}})
    emu.delete("memories", memory["id"])
    time.sleep(2)
    assert "Renamed by a test" not in read(summary)  # no refresh is due for an hour
    m.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "Renamed by a test" in read(summary))
    # A deletion takes two complete listings that agree.
    wait_for(lambda: "1 missing from the last listing" in read(m.p(".omifs", "status")))
    assert os.path.exists(memory_path)
    m.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: not os.path.exists(memory_path))
    assert m.proc.poll() is None  # SIGHUP refreshes; it does not unmount

    before = tree_bytes(m.path)
    emu.set_faults(error_rate=1.0)
    emu.reset_stats()
    m.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: emu.requests_total() > 0)
    time.sleep(2)
    assert tree_bytes(m.path) == before


def test_quick_refresh_finds_new_conversations_with_few_requests(emulator_factory, mount_factory):
    emu = emulator_factory(*UNLIMITED)
    m = mount_factory(emu.url, "ttl=1", "refresh=1", "full_refresh=3600")
    tree_bytes(m.path)
    emu.add("conversations", {"id": "brand-new", "created_at": "2025-07-01T09:00:00Z",
                              "structured": {"title": "New"}, "transcript_segments": []})
    emu.reset_stats()
    wait_for(lambda: os.path.isdir(m.p("conversations", "2025-07-01", "brand-new")))
    stats = emu.stats()["by_endpoint"].get("GET /user/conversations", {})
    # One page from the newest finds it; nothing like a full listing.
    assert sum(stats.values()) <= 4


def test_a_refresh_dates_a_directory_by_its_newest_file(emulator_factory, mount_factory):
    """A directory's mtime is the newest inside it after a refresh too, not
    the one it had when first listed: a snapshot's directories used to take
    their former mtimes back at each refresh."""
    emu = emulator_factory(*UNLIMITED)
    m = mount_factory(emu.url, "ttl=1", "retries=0", "timeout=5")
    open_dir = m.p("action-items", "open")
    newest = max(os.stat(os.path.join(open_dir, f)).st_mtime for f in os.listdir(open_dir))
    assert os.stat(open_dir).st_mtime == newest
    later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(newest + 86400))
    emu.add("action-items", {"id": "added-later", "description": "Newer than the rest",
                             "completed": False, "created_at": later, "updated_at": later})
    r = run_omifs("refresh", "--wait", m.path, key=None, timeout=60)
    assert r.returncode == 0, r.stderr
    added = os.stat(os.path.join(open_dir, "added-later.txt")).st_mtime
    assert added == newest + 86400
    assert os.stat(open_dir).st_mtime == added


def run_sync(emu, cache_home, *options, timeout=120):
    return run_omifs("sync", "-o", ",".join([f"url={emu.url}", *options]), cache_home=str(cache_home),
                     timeout=timeout)


def test_sync_fills_the_cache_for_an_offline_mount(emulator_factory, mount_factory, tmp_path):
    emu = emulator_factory(*UNLIMITED)
    r = run_sync(emu, tmp_path, "transcript_batch=20")
    assert r.returncode == 0, r.stderr
    assert "everything is cached" in r.stderr and r.stdout == ""
    url = emu.url
    expected = reference.expected_tree(emu.data())
    emu.stop()
    m = mount_factory(url, f"cache_dir={tmp_path / 'omifs'}", "offline")
    got = tree_bytes(m.path)
    assert sorted(got) == sorted(expected)
    for rel, entry in expected.items():
        if entry.obj is None:
            assert got[rel] == entry.content, rel


@pytest.mark.parametrize("offline", [False, True], ids=["online", "offline"])
def test_a_sync_beside_a_mount_shows_in_it(offline, emulator_factory, mount_factory, tmp_path):
    """A mount and `omifs sync` share a cache. What the sync writes shows
    in the mount within seconds, although the mount's own refresh would find
    the cache up to date and have nothing to tell (an offline mount has
    none at all); reading what it changed is never an error."""
    emu = emulator_factory(*UNLIMITED)
    data = emu.data()
    assert run_sync(emu, tmp_path).returncode == 0
    own_refresh = ["offline"] if offline else ["refresh=3600", "full_refresh=3600"]
    m = mount_factory(emu.url, f"cache_dir={tmp_path / 'omifs'}", "ttl=1", *own_refresh)
    memory = next(x for x in reference.usable(data["memories"])
                  if reference.string(x, "content") and reference.string(x, "category")
                  and reference.safe_name(x["id"]) == x["id"])
    memory_path = m.p("memories", reference.safe_name(memory["category"]), memory["id"] + ".txt")
    assert read(memory_path) == reference.render_memory(memory)
    assert not os.path.exists(m.p("conversations", "2019-03-04"))

    emu.patch("memories", memory["id"], {"content": "Written by omifs sync, and longer than before"})
    emu.add("conversations", {"id": "fresh-conversation", "created_at": "2019-03-04T08:00:00Z",
                              "structured": {"title": "Fresh"}, "transcript_segments": []})
    time.sleep(1.1)  # the listings are older than the sync's refresh=1
    r = run_sync(emu, tmp_path, "refresh=1", "full_refresh=1")
    assert r.returncode == 0, r.stderr

    wait_for(lambda: os.path.isdir(m.p("conversations", "2019-03-04", "fresh-conversation")))
    wait_for(lambda: read(memory_path) == "Written by omifs sync, and longer than before\n")
    # The sync's listing counts as the mount's own.
    conversations = len(list(reference.usable(data["conversations"]))) + 1
    assert re.search(rf"conversations +{conversations} items, listed completely at",
                     read(m.p(".omifs", "status")))
    assert m.proc.poll() is None, m.log()


def test_sync_killed_midway_resumes_without_fetching_twice(emulator_factory, tmp_path):
    # Pages of 10: the first sync lists conversations with their transcripts
    # in 12 pages; killed after 3, the next one fetches only what is missing.
    emu = emulator_factory(*UNLIMITED, "--conversations", "120", "--latency-ms", "150")
    env = {"PATH": os.environ["PATH"], "OMI_API_KEY": TEST_KEY, "XDG_CACHE_HOME": str(tmp_path), "TZ": "UTC"}
    options = "page_size=10,transcript_page=10,transcript_batch=10"
    proc = subprocess.Popen([OMIFS, "sync", "-o", f"url={emu.url},{options}"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while emu.stats().get("transcript_requests", 0) < 3:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    first = emu.stats()["transcript_requests"]
    assert first < 12, "the sync finished before it could be killed"
    emu.reset_stats()
    r = run_sync(emu, tmp_path, options)
    assert r.returncode == 0, r.stdout + r.stderr
    second = emu.stats()
    # What one uninterrupted sync costs, for comparison.
    emu.reset_stats()
    assert run_sync(emu, tmp_path / "clean", options).returncode == 0
    clean = emu.stats()["transcript_requests"]
    # Transcripts are never fetched twice (but for the request cut by the kill),
    # and listings younger than the refresh interval are kept.
    assert first + second["transcript_requests"] <= clean + 1
    # The key check's page of memories is the listing's first.
    assert sum(second["by_endpoint"].get("GET /user/memories", {}).values()) == 1


def test_sync_under_backend_limits_never_gets_a_429(emulator_factory, tmp_path):
    # Hourly windows shrunk to 7.2 s; 2 requests with transcripts per window.
    scale = "0.002"
    emu = emulator_factory("--window-scale", scale, "--limit", "transcripts=2", profile="backend")
    r = run_sync(emu, tmp_path, "api_profile=backend", f"rate_window_scale={scale}",
                 "max_transcripts_per_hour=2", "transcript_batch=25", timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    stats = emu.stats()
    assert stats["by_status"].get("429", 0) == 0
    assert stats["transcript_requests"] >= 3  # it had to wait for the window at least once


def test_a_far_reset_that_pauses_nothing_is_not_warned_of(emulator_factory, tmp_path):
    # The day's window has fewer requests left than the minute's, so every
    # answer reports its reset, hours away; nothing has to pause.
    emu = emulator_factory(*UNLIMITED, "--limit", "day=100000")
    r = run_sync(emu, tmp_path)
    assert r.returncode == 0, r.stderr
    assert emu.stats()["by_status"].get("429", 0) == 0
    assert "asked for a pause" not in r.stderr, r.stderr


def test_a_cache_dir_others_can_read_is_refused_not_chmodded(emulator_factory, tmp_path):
    emu = emulator_factory()
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = run_omifs("-o", f"url={emu.url},cache_dir={shared}", str(mnt))
    assert r.returncode == 1 and "can be read by others" in r.stderr
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755


def test_offline_mount_of_a_cache_on_read_only_media(emulator_factory, mount_factory, tmp_path):
    emu = emulator_factory(*UNLIMITED)
    cache, before = filled_cache(emu, mount_factory, tmp_path)
    readonly = tmp_path / "readonly"
    readonly.mkdir(mode=0o700)
    subprocess.run(["mount", "--bind", str(cache), str(readonly)], check=True, timeout=30)
    m = None
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(readonly)], check=True, timeout=30)
        m = mount_factory(emu.url, f"cache_dir={readonly}", "offline")
        assert tree_bytes(m.path) == before
    finally:
        if m:
            m.cleanup()  # omifs holds the cache open: stop it before the umount
        subprocess.run(["umount", "-l", str(readonly)], timeout=30)


def test_a_full_disk_shows_in_the_status(emulator_factory, mount_factory, tmp_path):
    emu = emulator_factory(*UNLIMITED, "--conversations", "200", "--segments", "40")
    small = tmp_path / "small"
    small.mkdir(mode=0o700)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k,mode=0700", "tmpfs", str(small)], check=True,
                   timeout=30)
    m = None
    try:
        m = mount_factory(emu.url, f"cache_dir={small}", "retries=0")
        os.listdir(m.p("memories"))
        try:
            tree_bytes(m.p("conversations"))
        except OSError as e:
            assert e.errno == 5
        status = read(m.p(".omifs", "status"))
        assert "cache error" in status and "full" in status, status
    finally:
        if m:
            m.cleanup()  # omifs holds the cache open: stop it before the umount
        subprocess.run(["umount", "-l", str(small)], timeout=30)


def test_a_first_sync_costs_the_floor(emulator_factory, tmp_path):
    emu = emulator_factory(*UNLIMITED, "--conversations", "120", "--memories", "80", "--action-items", "50")
    emu.reset_stats()
    r = run_sync(emu, tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    stats = emu.stats()
    # Each collection in one page and the empty page that ends it, the key
    # check being memories' first page and conversations coming with their
    # transcripts: 6 requests, 2 of them with transcripts; and one for
    # goals, which the documented API answers 404.
    assert stats["total"] == 7, stats["by_endpoint"]
    assert stats["by_endpoint"]["GET (unmatched)"] == {"404": 1}
    assert stats["transcript_requests"] == 2


def test_a_cold_backup_larger_than_a_minute_of_budget_completes(emulator_factory, mount_factory, tmp_path):
    # The documented 100 a minute, with the minute shrunk to 12 s on both
    # sides, and pages of 2 so that a backup needs about 130 requests: it
    # must wait for the minute's budget longer than budget_wait allows.
    scale = "0.2"
    emu = emulator_factory("--window-scale", scale, "--limit", "day=1000000", "--conversations", "40",
                           "--memories", "100", "--action-items", "60")
    m = mount_factory(emu.url, f"rate_window_scale={scale}", "page_size=2", "transcript_page=2",
                      "transcript_batch=2", "budget_wait=2", "max_per_day=0")
    r = subprocess.run(["rsync", "-a", m.path + "/", str(tmp_path / "backup") + "/"], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    stats = emu.stats()
    assert stats["total"] > 100
    assert stats["by_status"].get("429", 0) == 0


def test_cache_list_and_remove(emulator_factory, mount_factory, tmp_path):
    """Two accounts cached: list says whose each is and who uses it; remove
    takes a URL or a path, never a cache in use, never another file."""
    busy, idle = emulator_factory(*UNLIMITED), emulator_factory(*UNLIMITED)
    cache = tmp_path / "cache"
    m = mount_factory(busy.url, f"cache_dir={cache}")
    os.listdir(m.p("memories"))
    r = run_omifs("sync", "-q", "-o", f"url={idle.url},cache_dir={cache}", timeout=120)
    assert r.returncode == 0, r.stderr

    def listed():
        r = run_omifs("cache", "list", "--json", "-o", f"cache_dir={cache}", key=None)
        assert r.returncode == 0, r.stderr
        return {c["url"]: c for c in json.loads(r.stdout)}

    caches = listed()
    assert set(caches) == {busy.url, idle.url}
    data = idle.data()
    synced = caches[idle.url]
    assert synced["items"] == {"memories": len(data["memories"]), "action_items": len(data["action_items"]),
                               "conversations": len(data["conversations"]),
                               "goals": len(data.get("goals", []))}  # the documented API has none
    assert synced["transcripts"] == len(data["conversations"]) and synced["listed_at"] is not None
    assert synced["in_use_by"] is None and synced["bytes"] == os.path.getsize(synced["path"]) + \
        (os.path.getsize(synced["path"] + "-wal") if os.path.exists(synced["path"] + "-wal") else 0)
    assert caches[busy.url]["in_use_by"] == m.proc.pid
    text = run_omifs("cache", "list", "-o", f"cache_dir={cache}", key=None).stdout
    assert f"  url          {busy.url}\n" in text and f"  in use       by process {m.proc.pid}\n" in text

    r = run_omifs("cache", "remove", busy.url, "-o", f"cache_dir={cache}", key=None)
    assert r.returncode == 1 and "in use by process" in r.stderr
    assert os.path.exists(caches[busy.url]["path"])
    outside = tmp_path / "not-a-cache.sqlite"
    outside.write_text("keep me")
    r = run_omifs("cache", "remove", str(outside), "-o", f"cache_dir={cache}", key=None)
    assert r.returncode == 1 and "no cached account is" in r.stderr and outside.read_text() == "keep me"

    r = run_omifs("cache", "remove", idle.url + "/", "-o", f"cache_dir={cache}", key=None)
    assert r.returncode == 0 and r.stdout.startswith("removed "), r.stderr
    assert not glob.glob(synced["path"] + "*")
    m.stop()
    r = run_omifs("cache", "remove", caches[busy.url]["path"], "-o", f"cache_dir={cache}", key=None)
    assert r.returncode == 0, r.stderr
    assert listed() == {} and os.listdir(cache) == []
