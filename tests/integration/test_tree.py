"""The mounted tree against the emulator's data, in both API profiles."""

import errno
import json
import os
import subprocess

import pytest

import reference
from fsutil import files_under


def test_top_level(shared):
    emu, m = shared
    # goals/ only where the server serves goals (the backend; the documented API has none).
    goals = ["goals", "goals.jsonl"] if "goals" in emu.data() else []
    assert sorted(os.listdir(m.path)) == sorted([".omifs", "action-items", "action-items.jsonl",
                                                 "conversations", "conversations.jsonl", "memories",
                                                 "memories.jsonl", "search", "vault", *goals])
    assert sorted(os.listdir(m.p("action-items"))) == ["done", "open"]
    # Queries are looked up, never listed: a backup copies no search.
    assert os.listdir(m.p("search")) == []
    assert sorted(os.listdir(m.p(".omifs"))) == ["changes", "metrics", "status", "status.json"]


def test_every_file_is_the_reference_rendering(shared):
    emu, m = shared
    expected = reference.expected_tree(emu.data())
    found = {rel: full for rel, full in files_under(m.path).items() if not rel.startswith(".omifs/")}
    assert sorted(found) == sorted(expected)
    for rel, entry in expected.items():
        with open(found[rel], "rb") as f:
            content = f.read()
        st = os.stat(found[rel])
        assert st.st_size == len(content), rel
        assert reference.mtime_matches(st.st_mtime, entry.mtime), rel
        if entry.obj is not None:
            assert json.loads(content) == entry.obj, rel
        else:
            assert content == entry.content, rel


def test_directory_mtimes_come_from_the_data(shared):
    emu, m = shared
    dirs = reference.expected_dirs(reference.expected_tree(emu.data()), goals="goals" in emu.data())
    for rel, mtime in dirs.items():
        if "/" not in rel:
            # Stat'ed before anything is listed: the cache's birth, like the root's.
            assert os.stat(m.p(rel)).st_mtime == os.stat(m.path).st_mtime, rel
            continue
        assert reference.mtime_matches(os.stat(m.p(rel)).st_mtime, mtime), rel


def test_stat_size_equals_bytes_read_with_cat(shared):
    _, m = shared
    out = subprocess.run(["find", m.path, "-type", "f", "-printf", "%s %p\\n"], capture_output=True,
                         text=True, timeout=120, check=True).stdout
    for line in out.splitlines():
        size, path = line.split(" ", 1)
        if "/.omifs/" in path:
            continue
        read = subprocess.run(["cat", path], capture_output=True, timeout=30, check=True).stdout
        assert len(read) == int(size), path


def test_find_counts_match_the_emulator_over_several_pages(shared):
    emu, m = shared
    data = emu.data()
    assert len(data["memories"]) > 40 and len(data["conversations"]) > 40  # > 2 pages of 20

    def count(*args):
        out = subprocess.run(["find", m.path, *args], capture_output=True, text=True, timeout=60, check=True)
        return len(out.stdout.splitlines())

    assert count("-path", "*/memories/*", "-type", "f") == len(data["memories"])
    assert count("-path", "*/action-items/*", "-type", "f") == len(data["action_items"])
    assert count("-name", "summary.md") == len(data["conversations"])
    assert count("-name", "transcript.txt") == len(data["conversations"])
    open_items = sum(1 for a in data["action_items"] if not a["completed"])
    assert len(os.listdir(m.p("action-items", "open"))) == open_items


def test_ls_l_lists_every_conversation_of_a_day(shared):
    emu, m = shared
    day = sorted(os.listdir(m.p("conversations")))[0]
    out = subprocess.run(["ls", "-l", m.p("conversations", day)], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    ids = {line.split()[-1] for line in out.splitlines()[1:]}
    assert ids == set(os.listdir(m.p("conversations", day)))


def test_grep_finds_text_of_one_transcript(shared):
    emu, m = shared
    conv = next(c for c in emu.data()["conversations"] if len(c.get("transcript_segments") or []) > 3)
    phrase = conv["transcript_segments"][2]["text"].replace("\n", " ")[:40]
    out = subprocess.run(["grep", "-rlF", "--", phrase, m.p("conversations")], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0
    assert any(p.endswith(f"/{conv['id']}/transcript.txt") for p in out.stdout.splitlines())


def test_hostile_text_renders_safely(shared):
    emu, m = shared
    data = emu.data()
    titled = [c for c in data["conversations"]
              if "/" in (c["structured"].get("title") or "") or "\n" in (c["structured"].get("title") or "")]
    assert titled, "the emulator should generate titles with / and newlines"
    for c in titled:
        hits = [p for p in files_under(m.path) if p.endswith(f"{c['id']}/summary.md")]
        assert len(hits) == 1
        with open(m.p(hits[0]), encoding="utf-8") as f:
            first_line = f.readline()
        assert first_line.startswith("# ") and "\n" not in first_line[:-1]


def test_inode_numbers_are_stable_and_distinct(shared):
    _, m = shared
    files = files_under(m.path)
    inodes = {rel: os.stat(full).st_ino for rel, full in files.items()}
    assert len(set(inodes.values())) == len(inodes)
    assert all(os.stat(files[rel]).st_ino == ino for rel, ino in inodes.items())


def test_writes_get_erofs(shared):
    _, m = shared
    some_file = next(iter(files_under(m.p("memories")).values()))
    attempts = [
        lambda: open(some_file, "w"),
        lambda: open(some_file, "a"),
        lambda: open(m.p("memories", "new.txt"), "w"),
        lambda: os.mkdir(m.p("newdir")),
        lambda: os.unlink(some_file),
        lambda: os.rename(some_file, some_file + ".x"),
        lambda: os.chmod(some_file, 0o644),
        lambda: os.truncate(some_file, 0),
        lambda: os.symlink("x", m.p("link")),
    ]
    for attempt in attempts:
        with pytest.raises(OSError) as e:
            attempt()
        assert e.value.errno == errno.EROFS


def test_missing_paths_are_enoent(shared):
    _, m = shared
    for path in ("nope", "memories/nope", "conversations/2000-01-01", "action-items/open/x.txt",
                 ".omifs/nope"):
        with pytest.raises(FileNotFoundError):
            os.stat(m.p(path))


def test_status_reports_counts(shared):
    emu, m = shared
    data = emu.data()
    with open(m.p(".omifs", "status")) as f:
        status = f.read()
    assert f"memories       {len(data['memories'])} items" in status
    assert f"conversations  {len(data['conversations'])} items" in status
    assert os.stat(m.p(".omifs", "status")).st_size == len(status.encode())
