"""Paging, ordering and clamping in both profiles."""

import json
from datetime import datetime, timezone

import pytest

from emulator import Emulator, UNLIMITED

PROFILES = ["documented", "backend"]
COLLECTIONS = ["/user/memories", "/user/action-items", "/user/conversations"]
DATA_KEY = {"/user/memories": "memories", "/user/action-items": "action_items",
            "/user/conversations": "conversations"}


@pytest.fixture(scope="module", params=PROFILES)
def emu(request):
    with Emulator(*UNLIMITED, profile=request.param) as e:
        yield e


def ts(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() if s else None


def strip_transcript(objs):
    return [{k: v for k, v in o.items() if k != "transcript_segments"} for o in objs]


@pytest.mark.parametrize("path", COLLECTIONS)
@pytest.mark.parametrize("page", [7, 25, 1000])
def test_paging_visits_every_visible_item(emu, path, page):
    if emu.profile == "backend" and path == "/user/conversations":
        page = min(page, 100)
    expected = emu.data()[DATA_KEY[path]]
    got = emu.list_all(path, page=page)
    if path == "/user/conversations":
        expected = strip_transcript(expected)
        got = strip_transcript(got)
    if emu.profile == "backend" and path == "/user/conversations":
        # locked conversations are dropped after paging: offset += received re-reads
        # an item now and then, but nothing visible is ever missed.
        seen, first_seen = set(), []
        for c in got:
            if c["id"] not in seen:
                seen.add(c["id"])
                first_seen.append(c)
        assert first_seen == expected
    else:
        assert got == expected
        assert len({o["id"] for o in got}) == len(got)


@pytest.fixture(scope="module")
def doc_emu():
    with Emulator(*UNLIMITED, profile="documented") as e:
        yield e


def test_documented_default_page_sizes(doc_emu):
    emu = doc_emu
    assert len(emu.get_json("/user/memories")) == 25
    assert len(emu.get_json("/user/conversations")) == 25
    assert len(emu.get_json("/user/action-items")) == 50   # default 100, only 50 exist


def test_backend_locked_dropped_after_paging():
    with Emulator(*UNLIMITED, profile="backend") as emu:
        raw = emu.data(all=True)["conversations"]
        locked = {c["id"] for c in raw if c.get("_locked")}
        assert locked
        visible = emu.data()["conversations"]
        assert not locked & {c["id"] for c in visible}
        pages = []
        offset = 0
        for _ in range(100):
            page = emu.get_json("/user/conversations", {"limit": 10, "offset": offset})
            pages.append(page)
            if not page:
                break
            offset += len(page)
        sizes = [len(p) for p in pages]
        assert any(0 < n < 10 for n in sizes[:-2]), sizes     # a short page that is not the end
        assert sizes[-1] == 0
        assert not locked & {c["id"] for p in pages for c in p}
        # documented profile: locked ones are visible, discarded never
    with Emulator(*UNLIMITED, profile="documented") as emu:
        raw = emu.data(all=True)["conversations"]
        ids = {c["id"] for c in emu.list_all("/user/conversations", page=10)}
        assert {c["id"] for c in raw if c.get("_locked")} <= ids
        assert not {c["id"] for c in raw if c.get("_discarded")} & ids
        assert ids == {c["id"] for c in raw if not c.get("_discarded")}


def test_ordering(emu):
    convs = list({c["id"]: c for c in emu.list_all("/user/conversations", page=20)}.values())
    keys = [(-ts(c["created_at"]), c["id"]) for c in convs]
    assert keys == sorted(keys), "newest first, ties by id"
    epochs = [k[0] for k in keys]
    assert max(epochs.count(e) for e in epochs) >= 2, "identical created_at values exist"
    items = emu.list_all("/user/action-items", page=100)
    open_flags = [a["completed"] for a in items]
    assert open_flags == sorted(open_flags), "open items first"
    for done in (False, True):
        group = [a for a in items if a["completed"] == done]
        dues = [ts(a["due_at"]) for a in group]
        with_due = [d for d in dues if d is not None]
        assert with_due == sorted(with_due)
        assert dues == with_due + [None] * (len(dues) - len(with_due)), "nulls last"
    if emu.profile == "backend":
        mems = emu.list_all("/user/memories", page=100)
        scores = [(-m["scoring"], -ts(m["created_at"])) for m in mems]
        assert scores == sorted(scores)


@pytest.fixture(scope="module")
def big_backend():
    args = ["--conversations", "130", "--memories", "1100", "--action-items", "1100", "--segments", "2"]
    with Emulator(*args, *UNLIMITED, profile="backend") as e:
        yield e


@pytest.mark.parametrize("path,limit,want", [
    ("/user/memories", 5000, 1000),
    ("/user/action-items", 1001, 1000),
    ("/user/conversations", 500, 100),
    ("/user/memories", 0, 1),
    ("/user/action-items", -3, 1),
    ("/user/conversations", 0, 1),
])
def test_backend_clamps_limit(big_backend, path, limit, want):
    got = big_backend.get_json(path, {"limit": limit})
    if path == "/user/conversations" and want > 1:
        assert want - 2 <= len(got) <= want          # minus the locked ones in the page
    else:
        assert len(got) == want


def test_backend_clamps_transcript_pages_and_offsets(big_backend):
    got = big_backend.get_json("/user/conversations", {"limit": 100, "include_transcript": "true"})
    assert 23 <= len(got) <= 25
    assert all(isinstance(c["transcript_segments"], list) for c in got)
    for path in ("/user/memories", "/user/action-items", "/user/conversations"):
        assert big_backend.get_json(path, {"offset": -5, "limit": 10}) == big_backend.get_json(path, {"limit": 10})
    # clamped paging still visits everything
    mems = big_backend.list_all("/user/memories", page=5000)
    assert len(mems) == 1100 and len({m["id"] for m in mems}) == 1100
    ids = {c["id"] for c in big_backend.list_all("/user/conversations", page=1000)}
    assert ids == {c["id"] for c in big_backend.data()["conversations"]}


@pytest.mark.parametrize("query", [{"limit": 1001}, {"limit": 0}, {"limit": -1}, {"offset": -1}])
def test_documented_rejects_out_of_range(doc_emu, query):
    emu = doc_emu
    for path in COLLECTIONS:
        status, headers, body = emu.api("GET", path, query)
        assert status == 400
        assert json.loads(body)["error"]["code"] == "bad_request"
        assert "X-RateLimit-Limit" in headers
    status, _, body = emu.api("GET", "/user/memories", {"limit": 1000})
    assert status == 200 and len(json.loads(body)) == 80


def test_offset_past_the_end_is_empty(emu):
    for path in COLLECTIONS:
        assert emu.get_json(path, {"offset": 100000}) == []


def test_data_times_do_not_depend_on_clock(emu):
    newest = emu.get_json("/user/conversations", {"limit": 1})[0]
    assert datetime.fromisoformat(newest["created_at"].replace("Z", "+00:00")) <= \
        datetime(2025, 6, 30, 23, 59, 59, tzinfo=timezone.utc)


def test_goals_are_the_backends_alone_and_listed_whole():
    with Emulator(*UNLIMITED, profile="documented") as e:
        assert e.api("GET", "/user/goals", {"include_inactive": "true"})[0] == 404
    with Emulator(*UNLIMITED, profile="backend") as e:
        raw = e.data(all=True)["goals"]
        everyone = e.get_json("/user/goals", {"include_inactive": "true", "limit": 1, "offset": 3})
        # include_inactive answers every goal, newest first: limit and offset are not read.
        assert [g["id"] for g in everyone] == [g["id"] for g in
                                               sorted(raw, key=lambda g: ts(g["created_at"]), reverse=True)]
        active = e.get_json("/user/goals")
        assert active and all(g["is_active"] for g in active) and len(active) < len(everyone)
        goal = next(g for g in raw if g["_history"])
        assert e.get_json("/user/goals/" + goal["id"]) == {k: v for k, v in goal.items() if k != "_history"}
        history = e.get_json("/user/goals/%s/history" % goal["id"], {"days": 365})
        assert history == goal["_history"]
        assert e.get_json("/user/goals/%s/history" % goal["id"], {"days": 1}) == goal["_history"][:1]
        assert e.api("GET", "/user/goals/no-such/history")[0] == 404
