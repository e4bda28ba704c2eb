"""Filters, include_transcript and per-profile field shapes."""

import json
from datetime import datetime, timedelta, timezone

import pytest

from emulator import Emulator, UNLIMITED

PROFILES = ["documented", "backend"]


@pytest.fixture(scope="module", params=PROFILES)
def emu(request):
    with Emulator(*UNLIMITED, profile=request.param) as e:
        e.view = e.data()
        e.raw = e.data(all=True)
        yield e


def utc(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def test_memory_categories_or(emu):
    mems = emu.view["memories"]
    cats = sorted({m["category"] for m in mems})
    pick = [cats[0], cats[-1], "quantum-gardening"]
    got = emu.list_all("/user/memories", {"categories": ",".join(pick)}, page=100)
    assert got == [m for m in mems if m["category"] in pick]
    assert any(m["category"] == "quantum-gardening" for m in got)
    assert emu.get_json("/user/memories", {"categories": "no-such-category"}) == []
    # spaces and empty elements are ignored
    spaced = emu.list_all("/user/memories", {"categories": " %s , ,%s " % (cats[0], cats[-1])}, page=100)
    assert spaced == [m for m in mems if m["category"] in cats[:1] + cats[-1:]]


def test_conversation_categories(emu):
    convs = [{k: v for k, v in c.items() if k != "transcript_segments"} for c in emu.view["conversations"]]
    cats = ["work", "personal"]
    got = emu.list_all("/user/conversations", {"categories": ",".join(cats)}, page=100)
    got = list({c["id"]: c for c in got}.values())
    for c in got:
        c.pop("transcript_segments", None)
    assert got == [c for c in convs if c["structured"]["category"] in cats]
    assert got
    status, _, body = emu.api("GET", "/user/conversations", {"categories": "quantum-gardening"})
    if emu.profile == "documented":
        assert status == 200
        assert [c["structured"]["category"] for c in json.loads(body)] == ["quantum-gardening"]
    else:
        assert status == 400
        assert isinstance(json.loads(body)["detail"], str)


def test_action_items_completed(emu):
    items = emu.view["action_items"]
    for flag, val in (("true", True), ("false", False), ("1", True), ("FALSE", False)):
        got = emu.list_all("/user/action-items", {"completed": flag}, page=100)
        assert got == [a for a in items if a["completed"] is val]
        assert got


def test_action_items_conversation_id(emu):
    items = emu.view["action_items"]
    standalone = emu.list_all("/user/action-items", {"conversation_id": "null"}, page=100)
    assert standalone == [a for a in items if a["conversation_id"] is None]
    assert len(standalone) >= 3
    cid = next(a["conversation_id"] for a in items if a["conversation_id"])
    got = emu.list_all("/user/action-items", {"conversation_id": cid}, page=100)
    assert got == [a for a in items if a["conversation_id"] == cid]
    assert emu.get_json("/user/action-items", {"conversation_id": "nope"}) == []
    both = emu.get_json("/user/action-items", {"conversation_id": "null", "completed": "false"})
    assert both == [a for a in items if a["conversation_id"] is None and not a["completed"]]


@pytest.mark.parametrize("path,key", [("/user/action-items", "action_items"),
                                      ("/user/conversations", "conversations")])
def test_date_filters_inclusive(emu, path, key):
    objs = emu.view[key]
    if key == "conversations":
        objs = [{k: v for k, v in o.items() if k != "transcript_segments"} for o in objs]

    def fetch(q):
        got = emu.list_all(path, q, page=100)
        got = list({o["id"]: o for o in got}.values())
        for o in got:
            o.pop("transcript_segments", None)
        return got

    # an object whose created_at carries an offset: use it verbatim as both bounds
    target = next(o for o in objs if o["created_at"][-6:] in ("+05:30", "-08:00"))
    exact = fetch({"start_date": target["created_at"], "end_date": target["created_at"]})
    assert target in exact
    assert all(utc(o["created_at"]) == utc(target["created_at"]) for o in exact)
    # the same instant written in UTC matches too
    as_utc = utc(target["created_at"]).astimezone(timezone.utc).isoformat()
    assert target in fetch({"start_date": as_utc, "end_date": as_utc})
    # a window: inclusive on both ends, compared as real instants
    times = sorted(utc(o["created_at"]) for o in objs)
    lo, hi = times[len(times) // 4], times[3 * len(times) // 4]
    got = fetch({"start_date": lo.isoformat(), "end_date": hi.astimezone(timezone(timedelta(hours=-8))).isoformat()})
    assert got == [o for o in objs if lo <= utc(o["created_at"]) <= hi]
    # a date without a time is midnight UTC; Z accepted
    got = fetch({"start_date": "2025-06-20", "end_date": "2025-06-25T00:00:00Z"})
    a = datetime(2025, 6, 20, tzinfo=timezone.utc)
    b = datetime(2025, 6, 25, tzinfo=timezone.utc)
    assert got == [o for o in objs if a <= utc(o["created_at"]) <= b]
    # open-ended
    got = fetch({"start_date": hi.isoformat()})
    assert got == [o for o in objs if utc(o["created_at"]) >= hi]


def test_include_transcript_shape(emu):
    plain = emu.get_json("/user/conversations", {"limit": 5})
    for c in plain:
        if emu.profile == "documented":
            assert "transcript_segments" not in c
        else:
            assert c["transcript_segments"] is None
    for flag in ("false", "0"):
        again = emu.get_json("/user/conversations", {"limit": 5, "include_transcript": flag})
        assert again == plain
    full = emu.list_all("/user/conversations", {"include_transcript": "true"}, page=25)
    full = list({c["id"]: c for c in full}.values())
    assert full == emu.view["conversations"]
    segs = [s for c in full for s in c["transcript_segments"]]
    assert segs
    for s in segs:
        if emu.profile == "documented":
            assert set(s) <= {"id", "text", "speaker_id", "start", "end"}
        else:
            assert "speaker_name" in s
    assert any(len(c["transcript_segments"]) >= 2000 for c in full)
    assert any(c["transcript_segments"] == [] for c in full)


def test_single_conversation(emu):
    conv = emu.view["conversations"][3]
    status, _, body = emu.api("GET", "/user/conversations/" + conv["id"])
    if emu.profile == "documented":
        assert status == 404
        assert json.loads(body)["error"]["code"] == "not_found"
        return
    assert status == 200
    got = json.loads(body)
    assert got["transcript_segments"] is None
    assert got == dict(conv, transcript_segments=None)
    full = emu.get_json("/user/conversations/" + conv["id"], {"include_transcript": "true"})
    assert full == conv
    for c in emu.raw["conversations"]:
        if c.get("_locked") or c.get("_discarded"):
            status, _, body = emu.api("GET", "/user/conversations/" + c["id"])
            assert status == 404 and isinstance(json.loads(body)["detail"], str)
    status, _, body = emu.api("GET", "/user/conversations/does-not-exist")
    assert status == 404 and json.loads(body) == {"detail": "Conversation not found"}


def test_profile_field_shapes(emu):
    conv = emu.get_json("/user/conversations", {"limit": 25, "include_transcript": "true"})
    mems = emu.get_json("/user/memories", {"limit": 1000})
    items = emu.get_json("/user/action-items", {"limit": 1000})
    ai_keys = {"id", "description", "completed", "created_at", "updated_at", "due_at", "completed_at",
               "conversation_id"}
    assert all(set(a) == ai_keys for a in items)
    backend_conv = {"geolocation", "folder_id", "folder_name"}
    if emu.profile == "documented":
        assert all(set(m) == {"id", "content", "category"} for m in mems)
        for c in conv:
            assert set(c) == {"id", "created_at", "started_at", "finished_at", "language", "source",
                              "structured", "transcript_segments"}
            assert set(c["structured"]) == {"title", "overview", "emoji", "category", "action_items", "events"}
            for a in c["structured"]["action_items"]:
                assert set(a) == ai_keys - {"id", "conversation_id"}
    else:
        for m in mems:
            assert {"visibility", "tags", "created_at", "updated_at", "manually_added", "reviewed", "edited",
                    "user_review", "scoring"} <= set(m)
        for c in conv:
            assert backend_conv <= set(c)
            for a in c["structured"]["action_items"]:
                assert "id" not in a and "conversation_id" not in a
    # internal fields never leak, in any profile
    text = repr(conv) + repr(mems) + repr(items) + repr(emu.view)
    assert "_locked" not in text and "_discarded" not in text and "_hard_case" not in text


def test_embedded_items_match_listed_items(emu):
    items = emu.view["action_items"]
    for c in emu.view["conversations"]:
        want = [{k: v for k, v in a.items() if k not in ("id", "conversation_id")}
                for a in emu.raw["action_items"] if a["conversation_id"] == c["id"]]
        assert c["structured"]["action_items"] == want
    assert items
