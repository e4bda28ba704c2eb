"""omifs mcp with a real client: the official MCP TypeScript SDK (run by
node) lists and calls every tool, lists and reads the resources, and each
answer is checked against the mounted tree. No request reaches the
server. Then the protocol's bad input, sent raw."""

import json
import os
import subprocess
from pathlib import Path

import pytest

import reference
from emulator import UNLIMITED
from fsutil import files_under, read
from mount import OMIFS, REPO, base_env, run_omifs

CLIENT_DIR = REPO / "tests" / "mcp"


@pytest.fixture(scope="module")
def sdk():
    """The SDK from npm, installed once into tests/mcp/node_modules."""
    if not (CLIENT_DIR / "node_modules" / "@modelcontextprotocol" / "sdk").is_dir():
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=CLIENT_DIR,
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stdout + r.stderr
    return CLIENT_DIR / "client.mjs"


def cache_env(m, **extra):
    return base_env(TZ="UTC", XDG_CACHE_HOME=os.path.join(m.dir, "cache"), **extra)


def run_client(sdk, m, calls, read_uri=None):
    env = cache_env(m, MCP_CALLS=json.dumps(calls))
    if read_uri:
        env["MCP_READ_URI"] = read_uri
    r = subprocess.run(["node", str(sdk), OMIFS], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def structured(result, text_is_json=True):
    """A tool's structured result; its text is the same as JSON, but for a
    file that read gives (the file's bytes)."""
    assert not result.get("isError"), result
    if text_is_json:
        assert json.loads(result["content"][0]["text"]) == result["structuredContent"]
    return result["structuredContent"]


def test_every_tool_and_the_resources_answer_as_the_mount_does(sdk, emulator_factory, mount_factory):
    emu = emulator_factory(*UNLIMITED)
    data = emu.data()
    m = mount_factory(emu.url, "ttl=0", "transcript_batch=1", "transcript_page=1")
    conv = data["conversations"][0]
    day = reference.local_day(reference.parse_time(conv["created_at"]), 0)
    conv_dir = "conversations/%s/%s" % (day, reference.safe_name(conv["id"], ""))
    os.listdir(m.p("conversations"))  # listed once: the edit below is a change
    emu.patch("conversations", conv["id"], {"structured": {"title": "Planted zebra title"}})
    r = run_omifs("refresh", "--wait", m.path, key=None, timeout=60)
    assert r.returncode == 0, r.stderr
    transcript = read(m.p(conv_dir, "transcript.txt"))  # cached: readable offline
    other = data["conversations"][-1]
    uncached = "conversations/%s/%s/transcript.txt" % (
        reference.local_day(reference.parse_time(other["created_at"]), 0), reference.safe_name(other["id"], ""))
    category = data["memories"][0]["category"]
    emu.reset_stats()

    calls = [
        {"tool": "search", "arguments": {"query": "zebra", "limit": 5}},
        {"tool": "read", "arguments": {"path": conv_dir + "/summary.md"}},
        {"tool": "read", "arguments": {"path": conv_dir + "/transcript.txt"}},
        {"tool": "list_conversations", "arguments": {"limit": 100}},
        {"tool": "memories", "arguments": {"category": category, "limit": 100}},
        {"tool": "action_items", "arguments": {"status": "done", "limit": 100}},
        {"tool": "recent_changes", "arguments": {}},
        {"tool": "read", "arguments": {"path": "nope/nothing.txt"}},
        {"tool": "memories", "arguments": {"limit": 1000}},
        {"tool": "read", "arguments": {"path": conv_dir}},
        {"tool": "memories", "arguments": {"limit": 2}},
        {"tool": "read", "arguments": {"path": uncached}},
    ]
    memory = data["memories"][0]
    memory_path = "memories/%s/%s" % (category, reference.safe_name(memory["id"], ".txt"))
    report = run_client(sdk, m, calls, read_uri="omi:///" + memory_path)
    search, summary, transcript_read, conversations, memories, done, changes, missing, too_many, \
        listing, first_page, not_cached = report["calls"]

    assert report["server"]["name"] == "omifs"
    assert {"tools", "resources"} <= set(report["capabilities"])
    assert sorted(t["name"] for t in report["tools"]) == sorted(
        ["search", "read", "list_conversations", "memories", "action_items", "recent_changes"])
    assert all(t["inputSchema"]["type"] == "object" for t in report["tools"])

    hits = structured(search)["results"]
    assert hits and hits[0]["path"] == conv_dir and hits[0]["title"] == "Planted zebra title"
    assert "zebra" in hits[0]["snippet"]

    assert summary["content"][0]["text"] == read(m.p(conv_dir, "summary.md"))
    assert structured(summary, False)["size"] == os.stat(m.p(conv_dir, "summary.md")).st_size
    assert transcript_read["content"][0]["text"] == transcript[:64 * 1024]

    listed = structured(conversations)
    shown = {os.path.dirname(p) for p in files_under(m.path) if p.startswith("conversations/")}
    assert listed["total"] == len(shown) == len(data["conversations"])
    assert {c["path"] for c in listed["results"]} == shown
    dates = [c["date"] for c in listed["results"]]
    assert dates == sorted(dates, reverse=True)

    items = structured(memories)["items"]
    on_disk = {p for p in files_under(m.path) if p.startswith("memories/%s/" % category)}
    assert {i["path"] for i in items} == on_disk
    for i in items:
        assert i["text"] == read(m.p(i["path"])) and i["category"] == category

    done_items = structured(done)["items"]
    assert {i["path"] for i in done_items} == {p for p in files_under(m.path)
                                              if p.startswith("action-items/done/")}
    assert all(i["text"] == read(m.p(i["path"])) for i in done_items)

    change = structured(changes)["changes"]
    assert [(c["change"], c["id"], c["path"]) for c in change] == [("changed", conv["id"], conv_dir)]

    assert missing["isError"] and "No such file" in missing["content"][0]["text"]
    assert too_many["isError"] and "limit must be" in too_many["content"][0]["text"]
    assert {e["name"] for e in structured(listing)["entries"]} == set(os.listdir(m.p(conv_dir)))
    assert not_cached["isError"] and "not cached" in not_cached["content"][0]["text"]
    page = structured(first_page)
    assert len(page["items"]) == 2 and page["nextCursor"] == "2"

    # Resources: every file of the tree but .omifs/'s, each once, in pages.
    names = [r["name"] for r in report["resources"]]
    assert len(names) == len(set(names))
    assert set(names) == {p for p in files_under(m.path, views=True) if not p.startswith(".omifs/")}
    assert report["pages"] > 1
    assert report["read"]["contents"][0]["text"] == read(m.p(memory_path))
    assert report["missing"]["code"] == -32002

    # Everything came from the cache.
    assert emu.requests_total() == 0


def exchange(m, lines, timeout=60):
    """Sends lines (bytes) to omifs mcp; returns (exit code, replies, stderr)."""
    p = subprocess.run([OMIFS, "mcp"], input=b"".join(lines), env=cache_env(m),
                       capture_output=True, timeout=timeout)
    replies = [json.loads(line) for line in p.stdout.decode("utf-8").splitlines()]
    return p.returncode, replies, p.stderr.decode("utf-8", "replace")


def test_bad_messages_get_json_rpc_errors_and_nothing_else(emulator_factory, mount_factory):
    emu = emulator_factory(*UNLIMITED)
    m = mount_factory(emu.url)
    os.listdir(m.p("memories"))
    req = lambda i, method, params=None: (json.dumps(
        {"jsonrpc": "2.0", "id": i, "method": method, **({"params": params} if params is not None else {})})
        + "\n").encode()
    lines = [
        b"not json\n",
        b"[1, 2]\n",
        b"\n",
        b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n',
        req(1, "no/such/method"),
        req("two", "tools/call", {"name": "no_such_tool"}),
        req(3, "tools/call", {"name": "read", "arguments": [1]}),
        req(4, "tools/call", {"name": "search", "arguments": {"query": 7}}),
        req(5, "tools/call", {"name": "search", "arguments": {"query": "x" * 10000}}),
        b"{" + b'"a":' * 0 + b"\"x\":\"" + b"y" * (2 << 20) + b"\"}\n",
        req(6, "resources/read", {"uri": "http://elsewhere/"}),
        req(7, "tools/call", {"name": "read", "arguments": {"path": "../../etc/passwd"}}),
        req(8, "tools/call", {"name": "read", "arguments": {"path": "memories.jsonl", "cursor": "-1"}}),
        b'{"jsonrpc":"2.0","id":{"x":1},"method":"ping"}\n',
        req(9, "ping"),
        b"\xff\xfe\x00 binary\n",
        b'{"jsonrpc":"2.0","id":10,"method":"tools/call","params":"x"}\n',
    ]
    code, replies, err = exchange(m, lines)
    assert code == 0, err
    by_id = {json.dumps(r.get("id")): r for r in replies if r.get("id") is not None}
    nulls = [r["error"]["code"] for r in replies if r.get("id") is None]
    assert nulls == [-32700, -32600, -32600, -32600, -32700]
    assert by_id["1"]["error"]["code"] == -32601
    assert by_id['"two"']["error"]["code"] == -32602
    assert by_id["3"]["error"]["code"] == -32602
    assert by_id["4"]["result"]["isError"] and "query must be a string" in by_id["4"]["result"]["content"][0]["text"]
    assert by_id["5"]["result"]["isError"]
    assert by_id["6"]["error"]["code"] == -32002
    assert by_id["7"]["result"]["isError"]
    assert by_id["8"]["result"]["isError"]
    assert by_id["9"]["result"] == {}
    assert by_id["10"]["error"]["code"] == -32602
    assert len(replies) == 15
    assert emu.requests_total() >= 0


def test_without_a_cache_it_says_so_and_exits(tmp_path):
    r = run_omifs("mcp", key=None, cache_home=str(tmp_path))
    assert r.returncode == 1 and r.stdout == "" and "no account is cached" in r.stderr
