"""Both error dialects, auth, and key management."""

import json
import time

import pytest

from emulator import TEST_KEY, Emulator, UNLIMITED

PROFILES = ["documented", "backend"]
OTHER_KEY = "omi_dev_" + "f" * 32


@pytest.fixture(scope="module", params=PROFILES)
def emu(request):
    with Emulator(*UNLIMITED, profile=request.param) as e:
        yield e


def check_error(emu, status, body, code=None):
    err = json.loads(body)
    if emu.profile == "documented":
        assert set(err) == {"error"}
        assert isinstance(err["error"]["message"], str) and err["error"]["message"]
        if code:
            assert err["error"]["code"] == code
    else:
        assert set(err) == {"detail"}
        if status == 422:
            assert isinstance(err["detail"], list) and err["detail"]
            for d in err["detail"]:
                assert {"loc", "msg", "type"} <= set(d)
        else:
            assert isinstance(err["detail"], str) and err["detail"]
    return err


@pytest.mark.parametrize("key", [None, "", "omi_dev_short", "omi_dev_" + "A" * 32, OTHER_KEY, "Basic xyz"])
def test_bad_keys_get_401(emu, key):
    if key == "Basic xyz":
        status, headers, body = emu._request("GET", emu.url + "/user/memories", headers={"Authorization": key})
    else:
        status, headers, body = emu.api("GET", "/user/memories", key=key)
    assert status == 401
    check_error(emu, status, body, "invalid_api_key")
    if emu.profile == "documented":
        assert int(headers["X-RateLimit-Limit"]) > 0
    else:
        assert "X-RateLimit-Limit" not in headers


def test_404_dialects(emu):
    for path in ("/user/nothing", "/nope", "/user/memories/extra"):
        status, headers, body = emu.api("GET", path)
        assert status == 404
        check_error(emu, status, body, "not_found")
    status, _, body = emu.api("POST", "/user/memories", body={})
    assert status == 405
    check_error(emu, status, body)


@pytest.mark.parametrize("path,query,loc", [
    ("/user/memories", {"limit": "abc"}, "limit"),
    ("/user/memories", {"offset": "1.5"}, "offset"),
    ("/user/action-items", {"completed": "maybe"}, "completed"),
    ("/user/action-items", {"start_date": "yesterday"}, "start_date"),
    ("/user/action-items", {"end_date": "2025-13-40"}, "end_date"),
    ("/user/conversations", {"include_transcript": "perhaps"}, "include_transcript"),
    ("/user/conversations", {"start_date": "2025-06-01T00:00:00 05:30"}, "start_date"),  # an unencoded '+'
    ("/user/conversations", {"limit": ""}, "limit"),
])
def test_bad_parameters(emu, path, query, loc):
    status, headers, body = emu.api("GET", path, query)
    if emu.profile == "documented":
        assert status == 400
        check_error(emu, status, body, "bad_request")
        assert loc in json.loads(body)["error"]["message"]
    else:
        assert status == 422
        err = check_error(emu, status, body)
        assert err["detail"][0]["loc"] == ["query", loc]


def test_backend_validation_lists_every_error():
    with Emulator(profile="backend") as emu:
        status, _, body = emu.api("GET", "/user/action-items", {"limit": "x", "completed": "maybe"})
        assert status == 422
        locs = [d["loc"] for d in json.loads(body)["detail"]]
        assert ["query", "limit"] in locs and ["query", "completed"] in locs
        # the plus sign, properly encoded, is fine
        status, _, _ = emu.api("GET", "/user/action-items", "start_date=2025-06-01T00:00:00%2B05:30")
        assert status == 200
        status, _, body = emu.api("GET", "/user/conversations/missing", {"include_transcript": "zz"})
        assert status == 422


@pytest.mark.parametrize("profile", PROFILES)
def test_keys_create_list_revoke(emulator_factory, profile):
    emu = emulator_factory(*UNLIMITED, profile=profile)
    keys = emu.get_json("/keys")
    assert len(keys) == 1
    assert set(keys[0]) == {"id", "name", "key_prefix", "created_at", "last_used_at"}
    assert keys[0]["key_prefix"] == TEST_KEY[:14]
    assert keys[0]["last_used_at"] is not None       # this very request used it

    status, _, body = emu.api("POST", "/keys", body={"name": "My Dashboard"})
    assert status == 200
    new = json.loads(body)
    assert set(new) == {"id", "name", "key_prefix", "key", "created_at", "last_used_at"}
    assert new["name"] == "My Dashboard" and new["last_used_at"] is None
    assert new["key"].startswith("omi_dev_") and len(new["key"]) == 40
    assert new["key_prefix"] == new["key"][:14]
    listed = emu.get_json("/keys")
    assert [k["id"] for k in listed] == [new["id"], keys[0]["id"]], "newest first"
    assert "key" not in listed[0]

    # the new key works and its last_used_at moves
    assert emu.api("GET", "/user/memories", key=new["key"])[0] == 200
    after = {k["id"]: k for k in emu.get_json("/keys")}
    assert after[new["id"]]["last_used_at"] is not None

    status, headers, body = emu.api("DELETE", "/keys/" + new["id"])
    assert status == 204 and body == b""
    status, _, body = emu.api("GET", "/user/memories", key=new["key"])
    assert status == 401
    check_error(emu, status, body, "invalid_api_key")
    assert [k["id"] for k in emu.get_json("/keys")] == [keys[0]["id"]]
    status, _, body = emu.api("DELETE", "/keys/" + new["id"])
    assert status == 404
    check_error(emu, status, body, "not_found")

    # refused names
    bad_status = 400 if profile == "documented" else 422
    for payload in ({"name": ""}, {"name": "   "}, {}, {"name": 5}, b"not json"):
        status, _, body = emu.api("POST", "/keys", body=payload)
        assert status == bad_status, payload
        check_error(emu, status, body)
    status, _, body = emu.api("POST", "/keys")
    assert status == bad_status

    # a key can revoke itself; then it stops working at once
    status, _, body = emu.api("DELETE", "/keys/" + keys[0]["id"])
    assert status == 204
    assert emu.api("GET", "/keys")[0] == 401


def test_admin_adds_keys(emulator_factory):
    emu = emulator_factory(profile="backend")
    assert emu.api("GET", "/user/memories", key=OTHER_KEY)[0] == 401
    emu.add_key(OTHER_KEY)
    assert emu.api("GET", "/user/memories", key=OTHER_KEY)[0] == 200
    with pytest.raises(Exception):
        emu.add_key("not-a-key")


def test_generated_key_when_none_given(emulator_factory):
    emu = emulator_factory(key=None)
    deadline = time.monotonic() + 5
    while "generated API key" not in emu.stderr_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    line = [ln for ln in emu.stderr_text().splitlines() if "generated API key" in ln][0]
    key = line.rsplit(" ", 1)[1]
    assert emu.api("GET", "/user/memories", key=key)[0] == 200
    assert emu.api("GET", "/user/memories", key=TEST_KEY)[0] == 401


def test_key_file(emulator_factory, tmp_path):
    path = tmp_path / "keys"
    path.write_text("# keys\n\n%s\n%s\n" % (OTHER_KEY, TEST_KEY))
    emu = emulator_factory("--key-file", str(path), key=None)
    assert emu.api("GET", "/user/memories", key=OTHER_KEY)[0] == 200
    assert emu.api("GET", "/user/memories", key=TEST_KEY)[0] == 200
    assert len(emu.get_json("/keys", key=TEST_KEY)) == 2
