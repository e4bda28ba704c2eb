#!/usr/bin/python3
"""Writes the seed corpora of tests/fuzz/corpus/<target>/ (run from anywhere).

The seeds are checked in; this script says what each one is and makes them
again. Realistic objects in both API dialects (see shared/omi-api.md), then
the hard cases: emoji, right-to-left text, huge numbers, deep nesting, wrong
types, NUL escapes, lone surrogates, raw invalid UTF-8, CR/LF in one-line
fields, odd timestamps.
"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def js(obj, indent=None):
    return json.dumps(obj, ensure_ascii=False, indent=indent)


# ---- fuzz_model_render: API bodies ----

T = "fuzz_model_render"

doc_memories = [
    {"id": "mem_789ghi", "content": "Discussed project roadmap for Q1 with team members...",
     "category": "interesting"},
    {"id": "mem_456def", "content": "Reminder to call mom on her birthday next week",
     "category": "system"},
]
write(T, "doc-memories.json", js(doc_memories, 1))

backend_memories = [
    {"id": "b1c2d3e4-0000-4000-8000-000000000001", "content": "Likes hiking in the Alps",
     "category": "hobbies", "visibility": "private", "tags": ["outdoors", "travel"],
     "created_at": "2025-01-20T13:50:00.123456+00:00", "updated_at": None,
     "manually_added": False, "reviewed": True, "edited": False, "user_review": None,
     "scoring": "01_999_1737381000"},
    {"id": "b1c2d3e4-0000-4000-8000-000000000002", "content": "Works on\nFUSE filesystems\n",
     "category": "work", "visibility": "public", "tags": [],
     "created_at": "2025-01-19T08:00:00Z", "updated_at": "2025-01-19T09:30:00+01:00",
     "manually_added": True, "reviewed": False, "edited": True, "user_review": True,
     "scoring": None},
    {"id": 12345, "content": "integer id", "category": "auto"},
]
write(T, "backend-memories.json", js(backend_memories))

doc_actions = [
    {"id": "action_101", "description": "Review budget proposal", "completed": False,
     "created_at": "2025-01-20T10:15:00Z", "updated_at": "2025-01-20T10:15:00Z",
     "due_at": None, "completed_at": None, "conversation_id": "conv_202"},
    {"id": "action_102", "description": "Call dentist for appointment", "completed": True,
     "created_at": "2025-01-19T14:00:00Z", "updated_at": "2025-01-20T09:00:00Z",
     "due_at": "2025-01-25T00:00:00Z", "completed_at": "2025-01-20T09:00:00Z",
     "conversation_id": None},
]
write(T, "doc-action-items.json", js(doc_actions, 1))

structured = {
    "title": "Feature Discussion", "overview": "Brainstorming session for new features",
    "emoji": "💼", "category": "business",
    "action_items": [{"description": "Create mockups for new UI", "completed": False,
                      "created_at": "2025-01-20T14:10:00Z",
                      "updated_at": "2025-01-20T14:10:00Z", "due_at": None,
                      "completed_at": None}],
    "events": [],
}
conv = {"id": "conv_202", "created_at": "2025-01-20T13:50:00Z",
        "started_at": "2025-01-20T13:50:00Z", "finished_at": "2025-01-20T14:10:00Z",
        "language": "en", "source": "omi", "structured": structured}
write(T, "doc-conversations.json", js([conv], 1))
conv_t = dict(conv, source="friend", transcript_segments=[
    {"id": "seg_001", "text": "Let's discuss the new feature", "speaker_id": 0,
     "start": 0.0, "end": 2.5},
    {"id": "seg_002", "text": "I think we should focus on the user interface first",
     "speaker_id": 1, "start": 2.5, "end": 5.8}])
write(T, "doc-conversations-transcript.json", js([conv_t], 1))

backend_conv = {
    "id": "7f3e9a10-5b2c-4d8e-9f00-123456789abc", "created_at": "2025-03-02T23:59:59.999+05:30",
    "started_at": None, "finished_at": "2025-03-03T00:20:00+05:30", "language": "multi",
    "source": "desktop", "folder_id": "f1", "folder_name": "Work",
    "geolocation": {"latitude": 47.37, "longitude": 8.54, "address": "Zürich"},
    "structured": {
        "title": "Standup", "overview": "Line one\nLine two\n\n- [x] not a real item",
        "emoji": "🧑‍💻", "category": "work",
        "action_items": [{"description": "Ship it", "completed": True,
                          "completed_at": "2025-03-03T01:00:00Z", "due_at": "2025-03-04"}],
        "events": [{"title": "Retro", "description": "Talk about\nthe sprint",
                    "start": "2025-03-05T10:00:00Z", "duration": 45, "created": False},
                   {"title": "", "duration": 2.5e-3}]},
    "transcript_segments": [
        {"text": "Morning", "speaker_name": "Alice", "speaker_id": 0, "start": 0, "end": 1.2},
        {"text": "Hi", "speaker_name": None, "speaker_id": 1, "start": 3725.9, "end": 3727},
        {"text": "no speaker", "start": 360000.5},
    ]}
write(T, "backend-conversation.json", js(backend_conv))

# hard cases
write(T, "emoji-rtl.json", js([{
    "id": "emoji-🎉-עברית", "content": "مرحبا بالعالم ‏שלום‎ 👩‍👩‍👧‍👦 日本語",
    "category": "🎉/party", "created_at": "2025-01-01"}]))
write(T, "newlines-in-one-line-fields.json", js([{
    "id": "conv\nnl", "created_at": "2025-01-01T00:00:00Z", "language": "en\r\n- Source: forged",
    "source": "a\rb", "structured": {"title": "Title\n# forged heading", "emoji": "\r\n",
                                     "category": "x\n- Category: forged",
                                     "action_items": [{"description": "a\n- [ ] forged",
                                                       "due_at": "x\ny"}],
                                     "events": [{"title": "e\r\nf", "start": "s\nt"}]},
    "transcript_segments": [{"text": "one\ntwo\r\nthree\rfour", "speaker_name": "Bob\n[00:00:00] Eve",
                             "start": 1},
                            {"text": "line sep\u2028para sep\u2029nel\u0085", "start": 2}]}]))
write(T, "huge-numbers.json",
      '[{"id": 99999999999999999999, "transcript_segments": ['
      '{"text": "a", "speaker_id": 99999999999999999999, "start": 1e308, "end": 1e400},'
      '{"text": "b", "speaker_id": -9223372036854775809, "start": -1e308},'
      '{"text": "c", "speaker_id": -9223372036854775808, "start": 1e12},'
      '{"text": "d", "speaker_id": 1.5, "start": -0.0, "end": 4.9e-324},'
      '{"text": "e", "start": NaN, "end": Infinity},'
      '{"text": "f", "start": -Infinity}],'
      '"structured": {"events": [{"title": "t", "duration": 1e400},'
      '{"duration": -1e-400}, {"duration": 123456789012345678901234567890}]}},'
      '{"id": -9223372036854775808}, {"id": 18446744073709551615}, {"id": 0}]')
deep_ok = '{"id": "deep", "content": "x", "extra": ' + "[" * 29 + "1" + "]" * 29 + "}"
write(T, "deep-nesting-ok.json", "[" + deep_ok + "]")
write(T, "deep-nesting-too-deep.json",
      '[{"id": "deeper", "extra": ' + "[" * 40 + "]" * 40 + "}]")
write(T, "deep-objects.json", "{" + '"a":{' * 30 + "}" * 30 + ', "id": "o"}')
write(T, "wrong-types.json", js([
    {"id": "w1", "content": 12345, "category": ["work"], "created_at": 1737381000,
     "updated_at": {"$date": "2025"}},
    {"id": "w2", "description": False, "completed": "true", "due_at": 0,
     "conversation_id": 202},
    {"id": "w3", "structured": [], "transcript_segments": {"0": {"text": "x"}}},
    {"id": "w4", "structured": {"title": {"value": "t"}, "action_items": [7, None, "x", {}],
                                "events": {"title": "e"}},
     "transcript_segments": [None, 1, "text", [], {"text": 5, "start": "0", "speaker_id": "1"}]},
    {"id": 1.5}, {"id": True}, {"id": None}, {"id": ["x"]}, {"id": {"id": "x"}}, {"no_id": 1},
    None, 3, "string", [], {}]))
write(T, "numbers-in-strings.json",
      '[{"id": "s", "structured": {"events": [{"duration": "30"}, {"duration": "1e999"},'
      ' {"duration": "-0.0"}, {"duration": "0x10"}], "title": 1.50, "emoji": true},'
      ' "transcript_segments": [{"start": "12.5", "end": "-1E+2", "speaker_id": "-7"},'
      ' {"start": "12\\u00005", "speaker_id": "99999999999999999999"},'
      ' {"start": " 1", "speaker_id": "+3"}, {"start": "NaN", "speaker_id": "1.0"}]}]')
write(T, "nul-escapes.json",
      '[{"id": "nul\\u0000id", "content": "x"},'
      '{"id": "m", "content": "before\\u0000after", "category": "c\\u0000d",'
      ' "created_at": "2025-01-01T00:00:00Z\\u0000junk"},'
      '{"id": "c", "structured": {"title": "t\\u0000u"}, "transcript_segments": ['
      '{"text": "a\\u0000b", "speaker_name": "\\u0000"}]},'
      '{"id": "\\u0000"}, {"id": ""}]')
write(T, "surrogates.json",
      '[{"id": "\\ud800", "content": "lone high \\ud800 end", "category": "\\udc00"},'
      '{"id": "pair", "content": "\\ud83d\\ude00 ok, reversed \\ude00\\ud83d, high then text '
      '\\ud83dx, \\ud83d\\u0041"},'
      '{"id": "c", "transcript_segments": [{"text": "\\udfff", "speaker_name": "\\ud800\\ud800"}]}]')
write(T, "invalid-utf8.json",
      b'[{"id": "bad\xff\xfe", "content": "\xc3\x28 \xe2\x82 \xf0\x28\x8c\x28 \xed\xa0\x80",'
      b' "category": "\xc0\xaf"}, {"id": "raw\x01ctl", "content": "tab\there \x1b[31mred"}]')
write(T, "escapes.json",
      '[{"id": "a\\/b", "content": "\\"quoted\\" \\\\ \\b\\f\\n\\r\\t \\u001b[2J \\u007f",'
      ' "category": "\\u0041\\u00e9\\u4e2d"}]')
write(T, "dot-ids.json", js([{"id": ".", "content": "dot", "category": "."},
                             {"id": "..", "content": "dotdot", "category": ".."},
                             {"id": "a/../../etc/passwd", "category": "../.."},
                             {"id": "x" * 300, "category": "y" * 300}]))
write(T, "duplicate-keys.json",
      '[{"id": "d1", "id": "d2", "content": "one", "content": null,'
      ' "structured": {"title": "a"}, "structured": 5}]')
write(T, "timestamps.json", js([{"id": "t%d" % i, "created_at": s, "updated_at": s}
                                for i, s in enumerate([
                                    "2025-01-20", "2025-01-20T13:50", "2025-01-20 13:50:00",
                                    "2025-01-20t13:50:00z", "2025-01-20T13:50:00.123456789Z",
                                    "2025-01-20T13:50:00,5+0530", "2025-01-20T13:50:00-23:59",
                                    "2025-01-20T13:50:00+24:00", "2025-02-30T00:00:00Z",
                                    "2016-12-31T23:59:60Z", "0000-01-01T00:00:00+01:00",
                                    "9999-12-31T23:59:59-23:59", "2025-13-01", "2025-1-1",
                                    "2025-01-20T13:50:00.Z", "2025-01-20T", "", "now",
                                    "+2025-01-20", "2025-01-20T13:50:00+05:3"])]))
many = {"id": "long", "created_at": "2025-01-20T13:50:00Z",
        "transcript_segments": [{"text": "word " * (i % 7) + "end", "speaker_id": i % 3,
                                 "start": i * 1.5, "end": i * 1.5 + 1.2}
                                for i in range(150)]}
write(T, "long-transcript.json", js(many))
write(T, "empty-array.json", "[]")
write(T, "empty-object.json", "{}")
write(T, "null.json", "null")
write(T, "scalar.json", '"just a string"')
write(T, "trailing-garbage.json", '[{"id": "x"}] trailing')
write(T, "truncated.json", '[{"id": "x", "content": "unterminated')
write(T, "not-json.txt", "<html><body>502 Bad Gateway</body></html>")

# ---- fuzz_error_body: HTTP error bodies ----

E = "fuzz_error_body"
write(E, "doc-401.json", js({"error": {"message": "Invalid API key", "code": "invalid_api_key"}}, 2))
write(E, "doc-429.json", js({"error": {"message": "Rate limit exceeded", "code": "rate_limited"}}))
write(E, "doc-no-code.json", js({"error": {"message": "Server error"}}))
write(E, "doc-code-number.json", js({"error": {"message": "x", "code": 500}}))
write(E, "doc-error-string.json", js({"error": "boom"}))
write(E, "doc-error-null.json", '{"error": null}')
write(E, "doc-message-object.json", js({"error": {"message": {"text": "nested"}, "code": "c"}}))
write(E, "backend-detail.json", js({"detail": "Not authenticated"}))
write(E, "backend-422.json", js({"detail": [
    {"loc": ["query", "limit"], "msg": "value is not a valid integer",
     "type": "type_error.integer"},
    {"loc": ["query", "start_date"], "msg": "invalid datetime format",
     "type": "value_error.datetime"}]}))
write(E, "backend-422-no-loc.json", js({"detail": [{"msg": "bad"}, "plain", 3]}))
write(E, "backend-detail-object.json", js({"detail": {"reason": "locked", "until": None}}))
write(E, "backend-detail-null.json", '{"detail": null}')
write(E, "backend-402.json", js({"detail": "Conversation is locked: upgrade to read it"}))
write(E, "html-502.html", "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n"
      "<body><center><h1>502 Bad Gateway</h1></center></body>\r\n</html>\r\n")
write(E, "empty", b"")
write(E, "ansi-escape.json", js({"detail": "\u001b[31mred\u001b[0m \u0007bell \r\nnext \u007f"}))
write(E, "ansi-raw.txt", b"\x1b]0;title\x07\x1b[2J plain text error\x00with nul\x9b31m")
write(E, "nul-escape.json", '{"detail": "before\\u0000after"}')
write(E, "long-message.json", js({"error": {"message": "m" * 700, "code": "c" * 100}}))
write(E, "long-text.txt", "x" * 600)
write(E, "utf8.json", js({"detail": "שגיאה 🎉 خطأ " + "é" * 300}))
write(E, "surrogates.json", '{"detail": "\\ud800 \\udc00 \\ud83d\\ude00"}')
write(E, "invalid-utf8.json", b'{"detail": "\xff\xfe\xc3("}')
write(E, "deep.json", '{"detail": ' + "[" * 40 + "]" * 40 + "}")
write(E, "both-dialects.json", js({"detail": "d", "error": {"message": "e"}}))
write(E, "array-root.json", '[{"detail": "x"}]')
write(E, "truncated.json", '{"error": {"message": "cut')
write(E, "huge-number.json", '{"detail": 1e400, "error": {"code": 99999999999999999999}}')

# ---- fuzz_names: byte 0 options, bytes 1-2 split, then two raw ids ----

N = "fuzz_names"


def names(name, a, b, opts=0):
    if isinstance(a, str):
        a = a.encode("utf-8", "surrogatepass")
    if isinstance(b, str):
        b = b.encode("utf-8", "surrogatepass")
    write(N, name, bytes([opts]) + struct.pack("<H", len(a)) + a + b)


names("api-ids", "mem_789ghi", "mem_456def", 1)
names("uuids", "b1c2d3e4-0000-4000-8000-000000000001", "b1c2d3e4-0000-4000-8000-000000000002")
names("dot-dotdot", ".", "..")
names("dot-escaped", ".", "%2E")
names("dotdot-txt", "..", "...", 1)
names("slash", "a/b", "a%2Fb")
names("traversal", "../../etc/passwd", "..%2F..%2Fetc")
names("percent", "100%", "100%25")
names("controls", "tab\there\x7f\x1b[0m", "nl\ncr\r")
names("high-bytes", b"\xff\xfe\x80", b"\xc0\xaf/")
names("emoji-rtl", "日本語 🎉", "שלום مرحبا")
names("same", "same-id", "same-id")
names("empty", "", "x")
names("long-255", "x" * 251, "x" * 252, 1)
names("long-300", "y" * 300, "z" * 10)
names("slashes-boundary", "/" * 85, "/" * 86)
names("suffix-from-input", "abc", "/etc", 2)
names("long-utf8", "a" + "é" * 150, "é" * 150 + "b", 1)
names("long-same-start", "w" * 300 + "1", "w" * 300 + "2", 1)
names("long-escapes-mixed", "x/" * 120, "🎉%" * 70)
names("long-not-utf8", b"\x80" * 300, b"\xf0\x9f" * 150, 1)
names("nul-inside", b"ab\x00cd", b"ab", 0)
write(N, "time-doc", "2025-01-20T13:50:00Z")
write(N, "time-frac-offset", "2025-01-20T13:50:00.123+05:30")
write(N, "time-naive", "2025-01-20T13:50:00")
write(N, "time-date", "2025-01-20")
write(N, "time-space-lower", "2025-01-20 13:50:00z")
write(N, "time-invalid-day", "2025-02-31T00:00:00Z")
write(N, "time-leap-second", "2016-12-31T23:59:60+00:00")
write(N, "time-year-0", "0000-01-01T00:00:00+23:59")
write(N, "time-year-9999", "9999-12-31T23:59:59-23:59")
write(N, "time-truncated", "2025-01-20T13:")
write(N, "time-offset-nocolon", "2025-01-20T13:50:00-0800")
names("time-in-ids", "2025-01-20T13:50:00.5-03:30", "2025-01-20")


# ---- fuzz_split: listing pages, cut where the first bytes (up to 0xff) say ----

S = "fuzz_split"


def page(name, body, cuts=b""):
    """A body, cut into pieces of cuts[i] + 1 bytes in turn (none: whole)."""
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogatepass")
    write(S, name, (cuts + b"\xff" if cuts else b"") + body)


page("doc-memories", js(doc_memories, 1), b"\x00\x07")
page("backend-memories", js(backend_memories), b"\x02")
page("doc-conversations-transcript", js([conv_t], 1), b"\x10\x01\x40")
page("empty", " [ ]\n")
page("escaped-quotes-brackets", r'["a\"]", "\\", "\\\"]", {"k": "}{][,"}]', b"\x00")
page("nested", '[[1,[2,[3]]], {"a": [{"b": []}]}, null, true, -1.5e3]', b"\x01\x02")
page("truncated", js(doc_memories)[:-7], b"\x03")
page("not-object", '[{"id": 1}, 2, {"id": 3}]')
page("stray-brace", "[1}2]")
page("trailing-bytes", '[{"id": 1}] x')
page("nul-in-string", b'["a\x00b", {"id": "c"}]', b"\x00")
page("nul-between", b'[1,\x00 2]')
page("deep-at-limit", "[" + "[" * 255 + "1" + "]" * 255 + ", 2]", b"\x05")
page("deep-past-limit", "[" + "[" * 257 + "1" + "]" * 257 + "]")
page("deep-objects", "[" + '{"k":' * 200 + "1" + "}" * 200 + "]", b"\x09")
