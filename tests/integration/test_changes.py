"""Backups with rsync, and data that changes on the server while mounted."""

import os
import re
import subprocess
import urllib.parse

import pytest

import reference
from fsutil import files_under, read, wait_for
from emulator import UNLIMITED


def rsync(*args):
    return subprocess.run(["rsync", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("profile", ["documented", "backend"])
def test_second_rsync_copies_nothing_and_sends_no_request(profile, emulator_factory, mount_factory, tmp_path):
    emu = emulator_factory(*UNLIMITED, profile=profile)
    m = mount_factory(emu.url, "page_size=25")
    backup = tmp_path / "backup"
    first = rsync("-a", m.path + "/", str(backup) + "/")
    assert first.returncode == 0, first.stderr
    expected = reference.expected_tree(emu.data())
    for rel, entry in expected.items():
        content = (backup / rel).read_bytes()
        if entry.obj is None:
            assert content == entry.content, rel
        assert reference.mtime_matches((backup / rel).stat().st_mtime, entry.mtime), rel
    requests_after_first = emu.requests_total()
    second = rsync("-a", "--itemize-changes", m.path + "/", str(backup) + "/")
    assert second.returncode == 0, second.stderr
    # Only the metrics moved: they count the reads the first copy made.
    assert second.stdout in ("", ">f.s....... .omifs/metrics\n"), second.stdout
    assert emu.requests_total() == requests_after_first


def test_grep_finds_a_phrase_planted_in_one_transcript(emulator_factory, mount_factory):
    emu = emulator_factory(*UNLIMITED)
    emu.add("conversations", {
        "id": "planted-conversation",
        "created_at": "2025-06-15T12:00:00Z",
        "structured": {"title": "Planted", "category": "other"},
        "transcript_segments": [
            {"id": "s1", "text": "nothing to see", "speaker_id": 0, "start": 0.0, "end": 1.0},
            {"id": "s2", "text": "the quokka sings at midnight", "speaker_id": 1, "start": 1.0, "end": 2.0},
        ],
    })
    m = mount_factory(emu.url)
    out = subprocess.run(["grep", "-rl", "quokka sings at midnight", m.path], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0
    where = m.p("conversations", "2025-06-15", "planted-conversation")
    # ... and in the conversation's note, a view of the same transcript.
    assert sorted(out.stdout.splitlines()) == [os.path.join(where, "conversation.json"),
                                               os.path.join(where, "transcript.txt"),
                                               m.p("vault", "Conversations",
                                                   "2025-06-15 1200 Planted.md")]


@pytest.mark.parametrize("profile", ["documented", "backend"])
def test_changes_on_the_server_show_after_the_ttl(profile, emulator_factory, mount_factory):
    emu = emulator_factory(*UNLIMITED, profile=profile)
    data = emu.data()
    m = mount_factory(emu.url, "ttl=1", "refresh=1", "full_refresh=1")
    conv = data["conversations"][0]
    day = reference.local_day(reference.parse_time(conv["created_at"]), 0)
    summary = m.p("conversations", day, conv["id"], "summary.md")
    memory = data["memories"][0]
    memory_path = m.p("memories", memory["category"], memory["id"] + ".txt")
    item = next(a for a in data["action_items"] if not a["completed"])
    assert os.path.exists(memory_path)
    assert os.path.exists(m.p("action-items", "open", item["id"] + ".txt"))
    read(m.p("conversations", day, conv["id"], "transcript.txt"))

    emu.patch("conversations", conv["id"], {"structured": {"title": "A brand new title"}})
    emu.add("conversations", {"id": "fresh-conversation", "created_at": "2025-06-20T08:00:00Z",
                              "structured": {"title": "Fresh"}, "transcript_segments": []})
    emu.delete("memories", memory["id"])
    emu.patch("action-items", item["id"], {"completed": True, "completed_at": "2025-06-30T10:00:00Z"})

    wait_for(lambda: "A brand new title" in read(summary))
    wait_for(lambda: os.path.isdir(m.p("conversations", "2025-06-20", "fresh-conversation")))
    wait_for(lambda: not os.path.exists(memory_path))
    wait_for(lambda: os.path.exists(m.p("action-items", "done", item["id"] + ".txt")))
    assert not os.path.exists(m.p("action-items", "open", item["id"] + ".txt"))
    # The changed conversation's transcript file is consistent with its size.
    transcript = m.p("conversations", day, conv["id"], "transcript.txt")
    with open(transcript, "rb") as f:
        assert len(f.read()) == os.stat(transcript).st_size


def shown_files(m):
    return {rel for rel in files_under(m.path) if not rel.startswith(".omifs/")}


def decode_name(name, ids):
    """The id a file name stands for, by omifs.1's naming rule."""
    shortened = re.fullmatch(r"(.*)~([0-9a-f]{16})", name, re.S)
    if shortened:
        start = urllib.parse.unquote_to_bytes(shortened[1])
        for ident in ids:
            data = ident.encode("utf-8", "surrogatepass")
            if data.startswith(start) and "%016x" % reference.fnv1a64(data) == shortened[2]:
                return ident
    if name in ("%2E", "%2E%2E"):
        return "." * (len(name) // 3)
    return urllib.parse.unquote_to_bytes(name).decode("utf-8", "surrogatepass")


def shown_ids(found, ids):
    """The ids of each collection that the files in found stand for."""
    shown = {"memories": set(), "action_items": set(), "conversations": set()}
    for rel in found:
        parts = rel.split("/")
        if parts[0] == "conversations":
            shown["conversations"].add(decode_name(parts[2], ids["conversations"]))
        else:
            kind = "memories" if parts[0] == "memories" else "action_items"
            shown[kind].add(decode_name(parts[2].removesuffix(".txt"), ids[kind]))
    return shown


def test_hostile_ids_get_safe_names(emulator_factory, mount_factory):
    emu = emulator_factory(*UNLIMITED, "--hostile-ids")
    data = emu.data()
    m = mount_factory(emu.url)
    expected = reference.expected_tree(data)
    found = shown_files(m)
    # Every file the reference can name is there; nothing escapes the tree.
    assert found == set(expected)
    for rel in found:
        assert "/../" not in "/" + rel + "/" and "/./" not in "/" + rel + "/"
        assert all(len(part.encode("utf-8", "surrogateescape")) <= 255 for part in rel.split("/"))
    assert any("%2F" in rel for rel in found)
    assert any("%2E%2E" in rel for rel in found)
    # Every item with a usable id is shown, the 300-byte ones included.
    ids = {kind: {reference.object_id(item) for item in reference.usable(data[kind])}
           for kind in ("memories", "action_items", "conversations")}
    assert any(len(i) > 255 for i in ids["conversations"])
    assert shown_ids(found, ids) == ids
    # The same names after a remount from the disk cache.
    m.stop()
    m.start()
    assert shown_files(m) == found
    assert m.proc.poll() is None
