"""omifs search (issue 14): the cache's full-text index from the command
line. The cache is filled for real (a mount and omifs sync against the
emulator, with planted phrases); every path a result gives is checked
against the mounted tree."""

import json
import os
import pty
import select
import shutil
import sqlite3
import subprocess
import time

import pytest

from emulator import TEST_KEY, UNLIMITED
from fsutil import read, wait_for
from mount import OMIFS, base_env, run_omifs

PLANTED = {
    "id": "planted-conversation",
    "created_at": "2025-06-15T12:00:00Z",
    "structured": {"title": "Quarterly planning", "overview": "Budget talk with Sam",
                   "action_items": [{"description": "Book the venue in Zürich"}],
                   "events": [{"title": "Offsite", "description": "two days in the mountains"}]},
    "transcript_segments": [
        {"id": "s1", "text": "nothing to see", "speaker_id": 0, "start": 0.0, "end": 1.0},
        {"id": "s2", "text": "the quokka sings at midnight", "speaker_id": 1, "start": 61.0, "end": 63.0},
    ],
}


def plant(emu):
    emu.add("conversations", PLANTED)
    memory = emu.add("memories", {"content": "Allergic to peanuts at the café", "category": "core"})
    cjk = emu.add("memories", {"content": "明日は東京都庁で会議があります", "category": "core"})
    item = emu.add("action-items", {"description": "Renew the passport before the xylophone recital"})
    return memory, cjk, item


def search(cache_home, *args, key=None):
    return run_omifs("search", *args, cache_home=str(cache_home), key=key)


def search_json(cache_home, *args):
    r = search(cache_home, "--json", *args)
    assert r.returncode == 0, r
    return json.loads(r.stdout)["results"]


@pytest.fixture
def filled(emulator_factory, mount_factory):
    """A mount, and omifs sync into the same cache: every transcript cached."""
    emu = emulator_factory(*UNLIMITED)
    planted = plant(emu)
    m = mount_factory(emu.url)
    cache_home = os.path.join(m.dir, "cache")
    r = run_omifs("sync", "-q", "-o", f"url={emu.url}", cache_home=cache_home, timeout=120)
    assert r.returncode == 0, r
    return emu, m, cache_home, planted


def test_planted_phrases_are_found_at_their_paths_in_the_mount(filled):
    emu, m, cache_home, (memory, cjk, item) = filled
    emu.reset_stats()

    r = search(cache_home, "quokka midnight")
    assert r.returncode == 0, r
    assert r.stdout.startswith("conversations/2025-06-15/planted-conversation  2025-06-15  "
                               "conversation  Quarterly planning\n")
    assert "quokka sings at midnight" in r.stdout and "\x1b" not in r.stdout
    assert "all " in r.stderr and "transcripts indexed" in r.stderr

    hit = search_json(cache_home, '"quokka sings"')[0]
    assert (hit["kind"], hit["id"], hit["date"], hit["title"]) == \
        ("conversation", "planted-conversation", "2025-06-15", "Quarterly planning")
    assert "quokka" in hit["snippet"] and "\u0001" not in hit["snippet"]
    # The speaker and the time are in the transcript's text.
    assert search_json(cache_home, '"00 01 01" quokka')[0]["id"] == "planted-conversation"
    for query in ("venue", "mountains", "budget sam"):
        assert search_json(cache_home, query)[0]["id"] == "planted-conversation", query

    assert [h["id"] for h in search_json(cache_home, "peanuts")] == [memory["id"]]
    assert [h["id"] for h in search_json(cache_home, "cafe peanuts")] == [memory["id"]]
    assert [h["id"] for h in search_json(cache_home, "zurich")] == ["planted-conversation"]
    assert [h["id"] for h in search_json(cache_home, "東京")] == [cjk["id"]]
    assert [h["id"] for h in search_json(cache_home, "庁")] == [cjk["id"]]
    items = search_json(cache_home, "xylophone recital")
    assert [(h["id"], h["kind"]) for h in items] == [(item["id"], "action_item")]

    # Each path is where the mount files the item.
    for query in ("quokka", "peanuts", "東京", "xylophone"):
        for hit in search_json(cache_home, query):
            assert os.path.exists(m.p(hit["path"])), hit
    assert emu.requests_total() == 0


def test_nothing_matched_exits_1_and_limit_caps_the_results(filled):
    emu, m, cache_home, _ = filled
    r = search(cache_home, "zzzznotthere")
    assert r.returncode == 1 and r.stdout == "" and "0 matches" in r.stderr
    many = search_json(cache_home, "--limit", "0", "the")
    assert len(many) > 3
    assert len(search_json(cache_home, "--limit", "3", "the")) == 3
    assert len(search_json(cache_home, "the")) == min(20, len(many))
    scores = [h["score"] for h in many]
    assert scores == sorted(scores, reverse=True)
    # With the key, the account's own cache is found by its name.
    assert search(cache_home, "-o", f"url={emu.url}", "quokka", key=TEST_KEY).returncode == 0
    # Without the URL the key names another account, which has no cache.
    assert search(cache_home, "quokka", key=TEST_KEY).returncode == 2


@pytest.mark.parametrize("query, code", [
    ("..", 1), ('"unbalanced', 1), ("NEAR(", 1), ("NEAR(a b", 0), ("(((", 1), ("a/b", 0),
    ("*", 1), ("nosuchcolumn:word", 1), ("a" * 255, 1), ("é" * 127, 1), ('".."', 1),
    ("", 2), ("   ", 2), ("x" * 2000, 2),
])
def test_typed_text_is_a_query_only_nothing_is_refused(filled, query, code):
    """The emulator's words include "a" and "b" ("A/B tests")."""
    _, _, cache_home, _ = filled
    r = search(cache_home, query)
    assert r.returncode == code, r
    if code == 2:
        assert r.stderr.startswith("omifs search: ") and len(r.stderr.splitlines()) == 1, r.stderr
        assert r.stdout == ""


@pytest.mark.parametrize("query", ["..", '"unbalanced', "NEAR(", "(((", "nosuchcolumn:word", "*"])
def test_raw_fts5_is_refused_with_its_reason(filled, query):
    _, _, cache_home, _ = filled
    for args in (["--fts", query], ["fts:" + query]):
        r = search(cache_home, *args)
        assert r.returncode == 2, r
        assert r.stderr.startswith("omifs search: bad FTS5 query: "), r.stderr
        assert len(r.stderr.splitlines()) == 1 and r.stdout == ""
    assert search(cache_home, "--fts", "quokka OR peanuts").returncode == 0


def test_colour_on_a_terminal_plain_when_piped(filled):
    _, _, cache_home, _ = filled
    main, other = pty.openpty()
    env = base_env(TZ="UTC", XDG_CACHE_HOME=cache_home)
    proc = subprocess.Popen([OMIFS, "search", "quokka"], env=env, stdin=subprocess.DEVNULL,
                            stdout=other, stderr=subprocess.DEVNULL)
    os.close(other)
    out = b""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 1)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        try:
            chunk = os.read(main, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(main)
    assert proc.wait(timeout=10) == 0
    assert b"\x1b[1;31mquokka\x1b[0m" in out
    assert b"\x1b[35mconversations/2025-06-15/planted-conversation\x1b[0m" in out


def test_a_conversation_deleted_on_the_server_leaves_the_results(filled):
    emu, m, cache_home, _ = filled
    assert search(cache_home, "quokka").returncode == 0
    emu.delete("conversations", "planted-conversation")
    # A deletion takes two complete listings that agree.
    assert run_omifs("refresh", m.path).returncode == 0
    wait_for(lambda: "1 missing from the last listing" in read(m.p(".omifs", "status")))
    assert run_omifs("refresh", m.path).returncode == 0
    wait_for(lambda: not os.path.exists(m.p("conversations", "2025-06-15", "planted-conversation")))
    r = search(cache_home, "quokka")
    assert r.returncode == 1, r


def copy_without_index(src, dst):
    """The cache as an omifs before the index wrote it: the same tables and
    rows, no search_* table or trigger."""
    old = sqlite3.connect(dst)
    old.executescript(
        "CREATE TABLE listing (kind INTEGER NOT NULL, position INTEGER NOT NULL, id TEXT NOT NULL,"
        " json TEXT NOT NULL, PRIMARY KEY (kind, id));"
        "CREATE INDEX listing_order ON listing (kind, position);"
        "CREATE TABLE listed (kind INTEGER PRIMARY KEY, listed_at INTEGER NOT NULL, count INTEGER NOT NULL);"
        "CREATE TABLE full_conversation (id TEXT PRIMARY KEY, json TEXT NOT NULL);"
        "CREATE TABLE first_seen (kind INTEGER NOT NULL, id TEXT NOT NULL, at INTEGER NOT NULL,"
        " PRIMARY KEY (kind, id));"
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);")
    old.execute("ATTACH DATABASE ? AS new", (src,))
    for table in ("listing", "listed", "full_conversation", "first_seen", "meta"):
        columns = ", ".join(row[1] for row in old.execute(f"PRAGMA main.table_info({table})"))
        old.execute(f"INSERT INTO main.{table} SELECT {columns} FROM new.{table}")
    old.commit()
    old.execute("DETACH DATABASE new")
    old.close()
    os.chmod(dst, 0o600)


def tables(path):
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    finally:
        db.close()


def old_cache(emu, tmp_path):
    """A cache filled by omifs sync, then made as an omifs before the index
    left it; returns its home and its file."""
    cache_home = tmp_path / "home"
    r = run_omifs("sync", "-q", "-o", f"url={emu.url}", cache_home=str(cache_home), timeout=120)
    assert r.returncode == 0, r
    (cache,) = list((cache_home / "omifs").glob("*.sqlite"))
    old = tmp_path / "old.sqlite"
    copy_without_index(str(cache), str(old))
    for leftover in cache_home.joinpath("omifs").iterdir():
        leftover.unlink()
    shutil.move(str(old), str(cache))
    assert not any(t.startswith("search") for t in tables(cache))
    return cache_home, cache


def search_state(path):
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return dict(db.execute("SELECT key, value FROM search_state"))
    finally:
        db.close()


def test_a_cache_without_index_is_indexed_without_a_refetch(emulator_factory, mount_factory, tmp_path):
    emu = emulator_factory(*UNLIMITED)
    plant(emu)
    cache_home, cache = old_cache(emu, tmp_path)

    # A mount on it indexes it on disk, with no transcript fetched again.
    emu.reset_stats()
    m = mount_factory(emu.url, env={"XDG_CACHE_HOME": str(cache_home)})
    os.listdir(m.p("memories"))
    assert "search_text" in tables(cache)
    assert search(cache_home, "quokka").returncode == 0
    assert emu.stats().get("transcript_requests", 0) == 0


def test_omifs_search_indexes_an_old_cache_on_disk_once(emulator_factory, tmp_path):
    emu = emulator_factory(*UNLIMITED)
    plant(emu)
    cache_home, cache = old_cache(emu, tmp_path)
    emu.reset_stats()

    r = search(cache_home, "quokka")
    assert r.returncode == 0 and "planted-conversation" in r.stdout, r
    assert "indexing the cache for this version of omifs, once" in r.stderr
    assert "search_text" in tables(cache)
    state = search_state(cache)
    assert state["dirty"] == 0 and state["version"] > 0
    assert os.stat(cache).st_mode & 0o777 == 0o600

    # Later searches use that index as it is, and say nothing of it.
    r = search(cache_home, "quokka")
    assert r.returncode == 0 and "planted-conversation" in r.stdout, r
    assert "indexing" not in r.stderr, r.stderr

    # A write by an omifs that keeps no index leaves the index behind: it
    # would do so again, so the search indexes in memory, writing nothing.
    db = sqlite3.connect(str(cache))
    db.execute("INSERT INTO listing (kind, position, id, json) VALUES (0, 99, 'zz', '{\"id\": \"zz\", "
               "\"content\": \"a zucchini\"}')")
    db.commit()
    db.close()
    assert search_state(cache)["dirty"] == 1
    r = search(cache_home, "zucchini")
    assert r.returncode == 0 and "memories/" in r.stdout, r
    assert "an omifs that keeps no index wrote the cache" in r.stderr, r.stderr
    assert search_state(cache)["dirty"] == 1
    assert emu.requests_total() == 0


def test_an_old_cache_on_read_only_media_is_indexed_in_memory(emulator_factory, tmp_path):
    emu = emulator_factory(*UNLIMITED)
    plant(emu)
    cache_home, cache = old_cache(emu, tmp_path)
    emu.reset_stats()
    readonly = tmp_path / "readonly" / "omifs"
    readonly.mkdir(parents=True, mode=0o700)
    subprocess.run(["mount", "--bind", str(cache.parent), str(readonly)], check=True, timeout=30)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(readonly)], check=True, timeout=30)
        # Every search, since it cannot keep what it indexed.
        for _ in range(2):
            r = search(readonly.parent, "quokka")
            assert r.returncode == 0 and "planted-conversation" in r.stdout, r
            assert "read-only: indexing it in memory for this search" in r.stderr, r.stderr
    finally:
        subprocess.run(["umount", "-l", str(readonly)], timeout=30)
    assert not any(t.startswith("search") for t in tables(cache))
    assert emu.requests_total() == 0
