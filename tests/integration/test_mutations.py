"""Items with mistyped fields, mounted: each is shown, rendered by model.h's rules, and
nothing else changes. One mistyped field used to make omifs refuse the whole listing."""

import copy
import json
import os
import subprocess

import reference
from emulator import EMULATOR, PYTHON, UNLIMITED
from fsutil import files_under, read


def plain(c):
    return (isinstance(c.get("structured"), dict) and not c.get("_locked") and not c.get("_discarded")
            and c.get("transcript_segments"))


def mutate(data):
    """Mistypes one field in a few items. Returns [(kind, id, where, original value)]."""
    convs = [c for c in data["conversations"] if plain(c)]
    done = next(a for a in data["action_items"] if a["completed"] is True)
    changes = [
        ("conversations", convs[0], ("structured", "emoji"), {}),
        ("conversations", convs[1], ("structured", "title"), 42),
        ("conversations", convs[2], ("transcript_segments", 0, "text"), 5),
        ("memories", data["memories"][0], ("content",), 123),
        ("action_items", done, ("completed",), "yes"),
    ]
    undo = []
    for kind, item, where, value in changes:
        parent = item
        for key in where[:-1]:
            parent = parent[key]
        undo.append((kind, item["id"], where, parent[where[-1]]))
        parent[where[-1]] = value
    return undo


def restored(view, undo):
    """The client's view of the data as it was before mutate()."""
    view = copy.deepcopy(view)
    for kind, ident, where, value in undo:
        parent = next(item for item in view[kind] if item["id"] == ident)
        for key in where[:-1]:
            parent = parent[key]
        parent[where[-1]] = value
    return view


def belongs_to(rel, ident):
    parts = rel.split("/")
    name = parts[2] if parts[0] == "conversations" else parts[2].removesuffix(".txt")
    return name == reference.safe_name(ident)


def test_mistyped_fields_hide_nothing(emulator_factory, mount_factory, tmp_path):
    path = tmp_path / "data.json"
    subprocess.run([PYTHON, str(EMULATOR), "--dump-data", str(path), "--conversations", "20"], check=True,
                   timeout=60)
    data = json.loads(path.read_text())
    undo = mutate(data)
    # An odd item whose id is not fit for one line of the status file.
    hostile_id = "odd\x01id-" + "é" * 40
    data["memories"].append({"id": hostile_id, "content": 7, "category": "core"})
    path.write_text(json.dumps(data))
    emu = emulator_factory(*UNLIMITED, "--data", str(path))
    m = mount_factory(emu.url)
    view = emu.data()
    expected = reference.expected_tree(view)
    before = reference.expected_tree(restored(view, undo))
    found = files_under(m.path)
    status = read(found.pop(".omifs/status"))
    found.pop(".omifs/status.json")
    found.pop(".omifs/metrics")
    assert read(found.pop(".omifs/changes")) == ""

    # Every item is there, and every file is exactly what the rules say.
    assert sorted(found) == sorted(expected)
    for rel, full in found.items():
        with open(full, "rb") as f:
            content = f.read()
        assert os.stat(full).st_size == len(content), rel
        if expected[rel].obj is not None:
            assert json.loads(content) == expected[rel].obj, rel
        else:
            assert content == expected[rel].content, rel
        # A file of an item that was not mutated is as it was without the mutations.
        if not any(belongs_to(rel, ident) for _, ident, _, _ in undo):
            was = before[rel]
            assert json.loads(content) == was.obj if was.obj is not None else content == was.content, rel

    (_, emoji_id, _, _), (_, title_id, _, _), (_, text_id, _, _), (_, memory_id, _, _), (_, item_id, _, _) = undo
    by_id = {c["id"]: c for c in view["conversations"]}

    def conv_file(ident, name):
        day = reference.local_day(reference.parse_time(by_id[ident]["created_at"]), 0)
        return m.p("conversations", day, ident, name)

    # conversation.json is the object as sent, mistyped fields and all.
    for ident in (emoji_id, title_id, text_id):
        with open(conv_file(ident, "conversation.json")) as f:
            assert json.load(f) == by_id[ident]
    assert by_id[emoji_id]["structured"]["emoji"] == {}
    assert read(conv_file(emoji_id, "summary.md")).startswith("# %s\n" % by_id[emoji_id]["structured"]["title"])
    assert read(conv_file(title_id, "summary.md")).split("\n")[0].endswith(" 42")
    assert ": 5\n" in read(conv_file(text_id, "transcript.txt"))
    memory = next(mem for mem in view["memories"] if mem["id"] == memory_id)
    assert read(m.p("memories", memory["category"], memory_id + ".txt")) == "123\n"
    assert read(m.p("memories", "core", reference.safe_name(hostile_id, ".txt"))) == "7\n"
    # "yes" is not true: the item is open.
    assert "- Status: open\n" in read(m.p("action-items", "open", item_id + ".txt"))
    assert not os.path.exists(m.p("action-items", "done", item_id + ".txt"))

    # The status file tells which items had odd fields (the listing holds no
    # transcript, so the segment's text is not counted there).
    odd = next(line for line in status.splitlines() if line.startswith("odd fields"))
    # Ids in it are made fit for one line: control bytes as '?', cut after
    # 40 bytes on a character boundary.
    assert "memories: 2 items (%s, odd?id-%s...)" % (memory_id, "é" * 16) in odd, odd
    assert "action-items: 1 item (%s)" % item_id in odd, odd
    assert "conversations: 2 items (" in odd and emoji_id in odd and title_id in odd, odd
    assert m.proc.poll() is None
