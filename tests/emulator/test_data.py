"""The generator: determinism, the hard cases it plants, hostile ids, --data."""

import json
import re
import subprocess
from collections import Counter
from datetime import datetime, timezone

import pytest

from emulator import EMULATOR, PYTHON, UNLIMITED

KNOWN_MEMORY_CATEGORIES = {"interesting", "system", "manual", "workflow", "core", "hobbies", "lifestyle",
                           "interests", "habits", "work", "skills", "learnings", "other", "auto"}
KNOWN_CONV_CATEGORIES = {"personal", "business", "work", "health", "education", "family", "technology",
                         "travel", "other", "finance", "legal", "philosophy", "spiritual", "science",
                         "entrepreneurship", "parenting", "romance", "inspiration", "social", "sports",
                         "politics", "literature", "history", "architecture", "music", "weather", "news",
                         "entertainment", "psychology", "real", "design", "economics", "environment"}
KNOWN_SOURCES = {"omi", "friend", "phone", "desktop", "openglass", "screenpipe", "workflow", "sdcard",
                 "apple_watch"}


def dump(tmp_path, *args, name="data.json"):
    out = tmp_path / name
    subprocess.run([PYTHON, str(EMULATOR), "--dump-data", str(out), *args], check=True, timeout=60,
                   stdout=subprocess.DEVNULL)
    return out


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    path = dump(tmp_path_factory.mktemp("data"))
    return json.loads(path.read_text(encoding="utf-8"))


def utc(ts):
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).astimezone(timezone.utc)


def all_texts(data):
    for c in data["conversations"]:
        st = c["structured"]
        yield st["title"]
        yield st["overview"]
        for s in c["transcript_segments"]:
            yield s["text"]
    for m in data["memories"]:
        yield m["content"]
    for a in data["action_items"]:
        yield a["description"]


def all_timestamps(data):
    for c in data["conversations"]:
        yield from (c[k] for k in ("created_at", "started_at", "finished_at") if c[k])
        for e in c["structured"]["events"]:
            yield e["start"]
    for m in data["memories"]:
        yield from (m[k] for k in ("created_at", "updated_at") if m[k])
    for a in data["action_items"]:
        yield from (a[k] for k in ("created_at", "updated_at", "due_at", "completed_at") if a[k])


def test_dump_is_deterministic(tmp_path):
    a = dump(tmp_path, "--seed", "5", name="a.json").read_bytes()
    b = dump(tmp_path, "--seed", "5", name="b.json").read_bytes()
    c = dump(tmp_path, "--seed", "6", name="c.json").read_bytes()
    assert a == b
    assert a != c
    h1 = dump(tmp_path, "--hostile-ids", "--conversations", "30", name="h1.json").read_bytes()
    h2 = dump(tmp_path, "--hostile-ids", "--conversations", "30", name="h2.json").read_bytes()
    assert h1 == h2


def test_default_counts_and_shapes(dataset):
    assert len(dataset["conversations"]) == 60
    assert len(dataset["memories"]) == 80
    assert len(dataset["action_items"]) == 50
    for m in dataset["memories"]:
        assert {"id", "content", "category", "visibility", "tags", "created_at", "updated_at",
                "manually_added", "reviewed", "edited", "user_review", "scoring"} <= set(m)
        assert isinstance(m["scoring"], int)
    for a in dataset["action_items"]:
        assert set(a) == {"id", "description", "completed", "created_at", "updated_at", "due_at",
                          "completed_at", "conversation_id"}
    for c in dataset["conversations"]:
        assert {"id", "created_at", "started_at", "finished_at", "language", "source", "structured",
                "transcript_segments", "geolocation", "folder_id", "folder_name"} <= set(c)
        assert {"title", "overview", "emoji", "category", "action_items", "events"} <= set(c["structured"])
        for s in c["transcript_segments"]:
            assert {"text", "speaker_id", "speaker_name", "start", "end"} <= set(s)
            assert isinstance(s["speaker_id"], int)
            assert isinstance(s["start"], float) and isinstance(s["end"], float)
            assert s["end"] >= s["start"]
        for e in c["structured"]["events"]:
            assert set(e) == {"title", "description", "start", "duration", "created"}


def test_hard_cases_are_planted(dataset):
    convs, mems, items = dataset["conversations"], dataset["memories"], dataset["action_items"]
    text = "\n".join(all_texts(dataset))
    assert re.search("[\U0001F300-\U0001FAFF]", text), "emoji"
    assert re.search("[\u4e00-\u9fff\u3040-\u30ff]", text), "CJK"
    assert re.search("[\u0590-\u05ff]", text), "Hebrew"
    assert re.search("[\u0600-\u06ff]", text), "Arabic"
    titles = [c["structured"]["title"] for c in convs]
    assert any("/" in t and "\n" in t for t in titles)
    # very long lines: in a transcript and in a memory
    assert any(len(line) > 10000 for c in convs for s in c["transcript_segments"] for line in s["text"].split("\n"))
    assert any(len(line) > 10000 for m in mems for line in m["content"].split("\n"))
    assert max(len(c["transcript_segments"]) for c in convs) >= 2000
    assert any(c["started_at"] is None and c["finished_at"] is None for c in convs)
    assert any(a["due_at"] is None for a in items)
    assert any(a["due_at"] is not None for a in items)
    assert any(m["category"] not in KNOWN_MEMORY_CATEGORIES for m in mems)
    assert any(c["structured"]["category"] not in KNOWN_CONV_CATEGORIES for c in convs)
    assert any(c["source"] not in KNOWN_SOURCES for c in convs)
    assert any(c["transcript_segments"] == [] for c in convs)
    assert any("id" not in s for c in convs for s in c["transcript_segments"])
    assert any("id" in s for c in convs for s in c["transcript_segments"])
    seconds = Counter(utc(c["created_at"]).replace(microsecond=0) for c in convs)
    assert seconds.most_common(1)[0][1] >= 3
    assert any(a["conversation_id"] is None for a in items)
    assert any(a["conversation_id"] is not None for a in items)
    assert any(a["completed"] for a in items) and any(not a["completed"] for a in items)
    stamps = list(all_timestamps(dataset))
    assert any(re.search(r"\.\d+Z$", t) for t in stamps), "fraction + Z"
    assert any(re.search(r":\d\dZ$", t) for t in stamps), "Z without fraction"
    assert any(t.endswith("+00:00") for t in stamps)
    assert any(t.endswith("+05:30") for t in stamps)
    assert any(t.endswith("-08:00") for t in stamps)
    assert any(c.get("_locked") for c in convs)
    assert any(c.get("_discarded") for c in convs)
    assert any(c["structured"]["events"] for c in convs)
    assert any(not c["structured"]["events"] for c in convs)
    hm = {(utc(c["created_at"]).hour, utc(c["created_at"]).minute) for c in convs}
    assert (23, 30) in hm and (0, 30) in hm
    # data does not depend on the clock: everything is on or before the fixed end
    end = datetime(2025, 6, 30, 23, 59, 59, tzinfo=timezone.utc)
    assert all(utc(c["created_at"]) <= end for c in convs)


def test_embedded_action_items_match(dataset):
    by_conv = {}
    for a in dataset["action_items"]:
        if a["conversation_id"] is not None:
            by_conv.setdefault(a["conversation_id"], []).append(a)
    conv_ids = {c["id"] for c in dataset["conversations"]}
    assert any(cid not in conv_ids for cid in by_conv), "a dangling conversation_id is a hard case too"
    checked = 0
    for c in dataset["conversations"]:
        emb = c["structured"]["action_items"]
        want = [{k: v for k, v in a.items() if k not in ("id", "conversation_id")} for a in by_conv.get(c["id"], [])]
        assert emb == want
        for e in emb:
            assert "id" not in e and "conversation_id" not in e
        checked += bool(emb)
    assert checked >= 3


def test_hostile_ids(tmp_path):
    data = json.loads(dump(tmp_path, "--hostile-ids").read_text(encoding="utf-8"))
    for kind in ("conversations", "memories", "action_items"):
        ids = [o["id"] for o in data[kind]]
        assert any("/" in i for i in ids), kind
        assert "." in ids and ".." in ids, kind
        assert any(any(ord(ch) < 32 and ch != "\x00" for ch in i) for i in ids), kind
        assert any("\x00" in i for i in ids), kind
        assert any(len(i.encode()) == 300 for i in ids), kind
        assert max(Counter(ids).values()) >= 2, kind
    normal = json.loads(dump(tmp_path, name="n.json").read_text(encoding="utf-8"))
    for kind in ("conversations", "memories", "action_items"):
        ids = [o["id"] for o in normal[kind]]
        assert len(set(ids)) == len(ids)
        assert all(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", i) for i in ids)


@pytest.mark.parametrize("profile", ["documented", "backend"])
def test_hostile_ids_are_served(emulator_factory, profile):
    emu = emulator_factory("--hostile-ids", *UNLIMITED, profile=profile)
    ids = {m["id"] for m in emu.list_all("/user/memories", page=50)}
    assert "nul\x00id" in ids and "a/b/c" in ids and ".." in ids
    convs = emu.list_all("/user/conversations", page=50)
    assert sum(1 for c in convs if c["id"] == "nul\x00id") == 1
    if profile == "backend":
        got = emu.get_json("/user/conversations/" + "a%2Fb%2Fc")
        assert got["id"] == "a/b/c"


def test_counts_and_big_generation_options(tmp_path):
    data = json.loads(dump(tmp_path, "--conversations", "25", "--memories", "10", "--action-items", "12",
                           "--segments", "3", "--days", "5").read_text(encoding="utf-8"))
    assert [len(data[k]) for k in ("conversations", "memories", "action_items")] == [25, 10, 12]
    start = datetime(2025, 6, 25, 23, 59, 59, tzinfo=timezone.utc)
    assert all(utc(c["created_at"]) >= start for c in data["conversations"])


def test_load_data_file(emulator_factory, tmp_path):
    ds = {
        "conversations": [{
            "id": "c-1", "created_at": "2025-01-02T03:04:05Z", "started_at": None, "finished_at": None,
            "language": "en", "source": "omi",
            "structured": {"title": "Loaded", "overview": "", "emoji": "x", "category": "work",
                           "action_items": [], "events": []},
            "transcript_segments": [{"text": "hi", "speaker_id": 0, "speaker_name": "You", "start": 0.0, "end": 1.0}],
        }, {"id": "c-2", "created_at": "2025-01-01T00:00:00Z", "structured": {"title": "Gone"}, "_discarded": True}],
        "memories": [{"id": "m-1", "content": "remember", "category": "core"}],
        "action_items": [],
    }
    path = tmp_path / "in.json"
    path.write_text(json.dumps(ds))
    emu = emulator_factory("--data", str(path))
    convs = emu.get_json("/user/conversations", {"include_transcript": "true"})
    assert [c["id"] for c in convs] == ["c-1"]
    assert convs[0]["transcript_segments"] == [{"text": "hi", "speaker_id": 0, "start": 0.0, "end": 1.0}]
    assert emu.get_json("/user/memories") == [{"id": "m-1", "content": "remember", "category": "core"}]
    assert emu.get_json("/user/action-items") == []
    assert len(emu.data(all=True)["conversations"]) == 2
