"""The backend's lock (memories cut, action items and conversations gone) and the
shift_page fault (a page whose offsets moved because an item before it vanished)."""

import json

import pytest

from emulator import Emulator, EmulatorError, UNLIMITED

PROFILES = ["documented", "backend"]
PATHS = {"memories": "/user/memories", "action-items": "/user/action-items",
         "conversations": "/user/conversations"}
VIEW_KEY = {"memories": "memories", "action-items": "action_items", "conversations": "conversations"}


def ids(objs):
    return [o["id"] for o in objs]


# 90 code points, many of them several bytes long: the cut is by characters, not bytes.
LONG = "é" * 30 + "🎉" * 30 + "שלום / x\n" * 3 + "abc"
EXACTLY_70 = "ß" * 70
JUST_71 = "a" + "👨‍👩‍👧" * 14          # ZWJ sequences of 5 code points: the cut splits the last one


def stub(content):
    return content[:70] + "..."


# ----------------------------------------------------------------------------
# The lock
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_locked_memory_is_a_stub_in_backend_only(emulator_factory, profile):
    emu = emulator_factory(*UNLIMITED, profile=profile)
    assert len(LONG) == 90 and len(EXACTLY_70) == 70 and len(JUST_71) == 71
    mems = {}
    for name, content, score in (("long", LONG, 10 ** 9), ("seventy", EXACTLY_70, 10 ** 9 - 1),
                                 ("seventy-one", JUST_71, 10 ** 9 - 2)):
        mems[name] = emu.add("memories", {"id": "mem-" + name, "content": content, "scoring": score})
    before = emu.get_json("/user/memories", {"limit": 1000})
    assert ids(before[:3]) == ["mem-long", "mem-seventy", "mem-seventy-one"]

    raw = emu.lock("memories", "mem-long")
    assert raw["_locked"] is True and raw["content"] == LONG
    emu.patch("memories", "mem-seventy", {"_locked": True})      # the other way to lock
    emu.lock("memories", "mem-seventy-one")

    after = emu.get_json("/user/memories", {"limit": 1000})
    assert ids(after) == ids(before)                              # nothing dropped, same order
    got = {m["id"]: m for m in after}
    if profile == "backend":
        assert got["mem-long"]["content"] == stub(LONG)
        assert len(got["mem-long"]["content"]) == 73
        assert got["mem-seventy"]["content"] == EXACTLY_70          # not longer than 70: served whole
        assert got["mem-seventy-one"]["content"] == stub(JUST_71)
        assert got["mem-seventy-one"]["content"].endswith("\u200d...")      # code points, not graphemes
        # nothing else in the object changed or says it is locked
        for m_before in before[:3]:
            m_after = got[m_before["id"]]
            assert {k: v for k, v in m_after.items() if k != "content"} == \
                   {k: v for k, v in m_before.items() if k != "content"}
    else:
        assert after == before                                    # the documented API knows no lock
    assert "_locked" not in json.dumps(after)
    # every other memory is untouched
    assert [m for m in after if not m["id"].startswith("mem-")] == \
           [m for m in before if not m["id"].startswith("mem-")]

    view = {m["id"]: m for m in emu.data()["memories"]}
    assert view["mem-long"]["content"] == (stub(LONG) if profile == "backend" else LONG)
    assert "_locked" not in view["mem-long"]
    raw_all = {m["id"]: m for m in emu.data(all=True)["memories"]}
    assert raw_all["mem-long"]["content"] == LONG and raw_all["mem-long"]["_locked"] is True

    unlocked = emu.lock("memories", "mem-long", locked=False)
    assert "_locked" not in unlocked
    top = emu.get_json("/user/memories", {"limit": 1})[0]
    assert top["id"] == "mem-long" and top["content"] == LONG


@pytest.mark.parametrize("profile", PROFILES)
def test_locked_action_item_dropped_after_paging(emulator_factory, profile):
    emu = emulator_factory(*UNLIMITED, profile=profile)
    path = PATHS["action-items"]
    full = emu.list_all(path, page=7)
    assert len(full) == 50
    victim = full[3]["id"]
    raw = emu.lock("action-items", victim)
    assert raw["_locked"] is True
    first = emu.get_json(path, {"limit": 7, "offset": 0})
    second = emu.get_json(path, {"limit": 7, "offset": len(first)})
    walked = emu.list_all(path, page=7)
    view = ids(emu.data()["action_items"])
    if profile == "backend":
        assert ids(first) == ids(full[:3] + full[4:7])             # a short page that is not the end
        assert second, "a short page is not the end"
        assert victim not in ids(walked) and victim not in view
        # offset += received re-reads one item, misses nothing but the locked one
        assert list({a["id"]: a for a in walked}.values()) == [a for a in full if a["id"] != victim]
        assert len(walked) == len(full)
    else:
        assert first == full[:7] and walked == full and victim in view
    assert victim in ids(emu.data(all=True)["action_items"])
    assert "_locked" not in json.dumps(walked) + json.dumps(emu.data())
    emu.lock("action-items", victim, locked=False)
    assert emu.list_all(path, page=7) == full


@pytest.mark.parametrize("profile", PROFILES)
def test_locked_conversation_single_get_404(emulator_factory, profile):
    emu = emulator_factory(*UNLIMITED, profile=profile)
    conv = emu.data()["conversations"][4]
    cid = conv["id"]
    path = "/user/conversations/" + cid
    if profile == "backend":
        assert emu.api("GET", path)[0] == 200
    emu.patch("conversations", cid, {"_locked": True})
    listed = ids(emu.list_all("/user/conversations", page=10))
    if profile == "backend":
        for q in (None, {"include_transcript": "true"}):
            status, _, body = emu.api("GET", path, q)
            assert status == 404 and json.loads(body) == {"detail": "Conversation not found"}
        assert cid not in listed and cid not in ids(emu.data()["conversations"])
    else:
        assert cid in listed and cid in ids(emu.data()["conversations"])
    emu.lock("conversations", cid, locked=False)
    if profile == "backend":
        assert emu.get_json(path)["id"] == cid
    assert cid in ids(emu.list_all("/user/conversations", page=10))


def test_lock_admin_call_is_checked(emulator_factory):
    emu = emulator_factory(*UNLIMITED, profile="backend")
    mid = emu.data()["memories"][0]["id"]
    for body in ({"kind": "goals", "id": mid}, {"kind": "memories", "id": "no-such-id"},
                 {"kind": "memories", "id": mid, "locked": "yes"}, ["memories", mid]):
        with pytest.raises(EmulatorError):
            emu.admin("POST", "/lock", body)
    assert "_locked" not in emu.get("memories", mid)
    # action_items is accepted as a spelling of action-items
    aid = emu.data()["action_items"][0]["id"]
    assert emu.admin("POST", "/lock", {"kind": "action_items", "id": aid})["_locked"] is True


# ----------------------------------------------------------------------------
# The shifted page
# ----------------------------------------------------------------------------


def shift_fired(emu):
    return emu.stats()["faults"].get("shift_page", 0)


@pytest.mark.parametrize("kind", list(PATHS))
@pytest.mark.parametrize("profile", PROFILES)
def test_shifted_page_skips_one_item_once(emulator_factory, profile, kind):
    emu = emulator_factory(*UNLIMITED, profile=profile)
    path, n = PATHS[kind], 7
    full = emu.list_all(path, page=n)
    page0 = emu.get_json(path, {"limit": n, "offset": 0})
    at_n = emu.get_json(path, {"limit": n, "offset": n})
    at_n1 = emu.get_json(path, {"limit": n, "offset": n + 1})
    assert at_n and at_n1 and ids(at_n) != ids(at_n1)
    emu.reset_stats()

    assert emu.shift_page(kind)["shift_page"][kind] == 1
    assert emu.get_json(path, {"limit": n, "offset": 0}) == page0    # offset 0: nothing before it
    assert emu.faults()["shift_page"][kind] == 1 and shift_fired(emu) == 0
    assert emu.get_json(path, {"limit": n, "offset": n}) == at_n1    # the item at offset n is skipped
    assert shift_fired(emu) == 1 and emu.faults()["shift_page"][kind] == 0
    assert emu.get_json(path, {"limit": n, "offset": n}) == at_n     # once only
    assert emu.list_all(path, page=n) == full                        # the next full listing is whole
    assert shift_fired(emu) == 1
    # the other kinds were never shifted
    assert all(v == 0 for v in emu.faults()["shift_page"].values())


@pytest.mark.parametrize("kind", ["memories", "action-items"])
@pytest.mark.parametrize("profile", PROFILES)
def test_client_walk_misses_exactly_one_item(emulator_factory, profile, kind):
    emu = emulator_factory(*UNLIMITED, profile=profile)
    path, n = PATHS[kind], 10
    full = emu.list_all(path, page=n)
    assert full == emu.data()[VIEW_KEY[kind]]
    emu.shift_page(kind)
    walked = emu.list_all(path, page=n)
    # The page at offset n starts at n + 1; the next one is no longer shifted, so the
    # walk reads item 2n twice and never sees item n: one item skipped, no other.
    assert walked == full[:n] + full[n + 1:2 * n + 1] + full[2 * n:]
    assert list({o["id"]: o for o in walked}.values()) == full[:n] + full[n + 1:]
    assert shift_fired(emu) == 1
    assert emu.list_all(path, page=n) == full
    assert emu.data()[VIEW_KEY[kind]] == full                         # nothing was deleted


def test_shift_count_cancel_and_other_faults(emulator_factory, tmp_path):
    log = tmp_path / "req.log"
    emu = emulator_factory("--log", str(log), *UNLIMITED, profile="backend")
    path = PATHS["memories"]
    full = emu.list_all(path, page=5)
    emu.set_faults(shift_page={"kind": "memories", "count": 2})
    # offsets that leave nothing to skip do not use a shift up
    assert emu.get_json(path, {"limit": 5, "offset": len(full)}) == []
    assert emu.get_json(path, {"limit": 5, "offset": 10 ** 6}) == []
    # a request another fault hits is not shifted and does not use a shift up
    emu.set_faults(fail_next=1)
    assert emu.api("GET", path, {"limit": 5, "offset": 5})[0] == 500
    emu.set_faults(malformed_rate=1.0)
    assert emu.api("GET", path, {"limit": 5, "offset": 5})[0] == 200
    emu.set_faults(malformed_rate=0.0)
    assert emu.faults()["shift_page"]["memories"] == 2 and shift_fired(emu) == 0
    assert emu.get_json(path, {"limit": 5, "offset": 5}) == full[6:11]
    assert emu.get_json(path, {"limit": 5, "offset": 20}) == full[21:26]
    assert emu.get_json(path, {"limit": 5, "offset": 20}) == full[20:25]
    assert shift_fired(emu) == 2
    # the GET shape posts back; 0 cancels; clear cancels
    emu.set_faults(shift_page={"memories": 3, "action_items": 1})
    assert emu.faults()["shift_page"] == {"conversations": 0, "memories": 3, "action-items": 1}
    emu.set_faults(shift_page={"kind": "memories", "count": 0})
    assert emu.faults()["shift_page"]["memories"] == 0
    assert emu.get_json(path, {"limit": 5, "offset": 5}) == full[5:10]
    emu.clear_faults()
    assert emu.faults()["shift_page"] == {"conversations": 0, "memories": 0, "action-items": 0}
    assert emu.get_json(PATHS["action-items"], {"limit": 5, "offset": 5}) == \
           emu.data()["action_items"][5:10]
    for bad in ({"kind": "goals"}, {"kind": "memories", "count": -1}, {"kind": "memories", "count": True},
                {"kind": "memories", "count": 1, "offset": 3}, {"memories": "1"}, "memories", 1):
        with pytest.raises(EmulatorError):
            emu.set_faults(shift_page=bad)
    assert emu.faults()["shift_page"] == {"conversations": 0, "memories": 0, "action-items": 0}
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    shifted = [ln for ln in lines if ln.get("fault") == "shift_page"]
    assert [ln["query"] for ln in shifted] == ["limit=5&offset=5", "limit=5&offset=20"]
    assert all(ln["status"] == 200 for ln in shifted)
