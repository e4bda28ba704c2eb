"""An independent Python rendering of the omifs tree (see omifs.1, FILE FORMATS).

Given the emulator's data (what a client sees, with transcripts), it computes
every path omifs must show, with its bytes and mtime. The integration tests
compare the mounted tree against it byte for byte. It shares no code with
src/render.c on purpose: two implementations of one spec.
"""

import json
import time
import math
import os
import re
from datetime import datetime, timedelta, timezone

NAME_MAX = 255


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def _escape(b):
    return b"%%%02X" % b if b in (0x2F, 0x25) or b < 0x20 or b == 0x7F else bytes([b])


def safe_name(raw, suffix=""):
    """Percent-encodes '/', '%' and control bytes; '.' and '..' are encoded whole.
    A name over 255 bytes keeps the longest start that fits without cutting a
    UTF-8 character, then '~', the FNV-1a hash of the whole id in 16 hex digits,
    and the suffix. None for an empty id."""
    if not raw:
        return None
    data, suffix = raw.encode("utf-8", "surrogatepass"), suffix.encode()
    if raw in (".", ".."):
        name = b"%2E" * len(raw)
    else:
        name = b"".join(_escape(b) for b in data)
    if len(name) + len(suffix) > NAME_MAX:
        room, used, keep = NAME_MAX - len(suffix) - 17, 0, 0
        for i, b in enumerate(data):
            if b & 0xC0 != 0x80:
                keep = i
            used += len(_escape(b))
            if used > room:
                break
        name = b"".join(_escape(b) for b in data[:keep]) + b"~%016x" % fnv1a64(data)
    return os.fsdecode(name + suffix)


ISO_FORM = re.compile(r"\d{4}-\d\d-\d\d([Tt ]\d\d:\d\d(:\d\d)?([.,]\d+)?([Zz]|[+-]\d\d(:?\d\d)?)?)?")


def parse_time(text):
    """ISO 8601 as the API sends it; a naive time is UTC. None if unusable.
    Only the forms model_parse_time reads: Python also takes "20250120"."""
    if not isinstance(text, str) or not ISO_FORM.fullmatch(text):
        return None
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return int(math.floor(t.timestamp()))


def first_valid(*texts):
    for text in texts:
        t = parse_time(text)
        if t is not None:
            return t
    return 0


def value(obj, key):
    return obj.get(key) if isinstance(obj, dict) else None


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def string(obj, key):
    """A text field by model.h's rule: a string; a number or boolean as its
    JSON text (json-c keeps a fraction's text as sent, which is what Python
    wrote); anything else None."""
    v = value(obj, key)
    if isinstance(v, str):
        return v.replace("\0", "\ufffd")  # a NUL cannot stand in a C string
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(min(max(v, -2**63), 2**64 - 1))  # json-c saturates
    if isinstance(v, float):
        return json.dumps(v)
    return None


JSON_NUMBER = re.compile(r"-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?")


def number(obj, key):
    """A number field: a number, or a string that is exactly a JSON number."""
    v = value(obj, key)
    if is_number(v):
        return float(v)
    if isinstance(v, str) and JSON_NUMBER.fullmatch(v):
        return float(v)
    return None


def integer(obj, key):
    """speaker_id: an integer (json-c saturates to 64 bits), or a string of
    digits with an optional '-' that fits in 64 bits."""
    v = value(obj, key)
    if isinstance(v, int) and not isinstance(v, bool):
        return min(max(v, -2**63), 2**63 - 1)
    if isinstance(v, str) and re.fullmatch(r"-?\d+", v, re.ASCII) and -2**63 <= int(v) < 2**63:
        return int(v)
    return None


def flat(s):
    return s.replace("\r", " ").replace("\n", " ")


def block(s):
    return s if s.endswith("\n") else s + "\n"


def field(label, value):
    return f"- {label}: {flat(value)}\n" if value else ""


def render_memory(m):
    content = string(m, "content")
    return block(content) if content else ""


def render_action_item(a):
    out = block(string(a, "description") or "") + "\n"
    out += field("Status", "done" if a.get("completed") is True else "open")
    out += field("Created", string(a, "created_at"))
    out += field("Due", string(a, "due_at"))
    out += field("Completed", string(a, "completed_at"))
    out += field("Conversation", string(a, "conversation_id"))
    return out


def cell(s):
    return flat(s or "").replace("|", "\\|")


def render_goal(g):
    out = "# " + flat(string(g, "title") or "(untitled goal)") + "\n\n"
    out += field("Type", string(g, "goal_type"))
    out += field("Target", string(g, "target_value"))
    out += field("Current", string(g, "current_value"))
    low, high = string(g, "min_value"), string(g, "max_value")
    if low and high:
        out += f"- Range: {flat(low)} to {flat(high)}\n"
    out += field("Unit", string(g, "unit"))
    out += field("Active", "yes" if g.get("is_active") is True else "no")
    out += field("Created", string(g, "created_at"))
    out += field("Updated", string(g, "updated_at"))
    days = dicts(g.get("history"))
    if days:
        out += "\n## History\n\n| Date | Value |\n| --- | --- |\n"
        out += "".join(f"| {cell(string(d, 'date'))} | {cell(string(d, 'value'))} |\n" for d in days)
    return out


def offset(seconds):
    if seconds is None or not seconds > 0:
        seconds = 0
    s = int(math.floor(min(seconds, 1e12)))
    return "[%02d:%02d:%02d] " % (s // 3600, s // 60 % 60, s % 60)


def render_transcript(c):
    out = []
    for seg in dicts(c.get("transcript_segments")):
        name = string(seg, "speaker_name")
        sid = integer(seg, "speaker_id")
        if name:
            speaker = flat(name)
        elif sid is not None:
            speaker = f"Speaker {sid}"
        else:
            speaker = "Speaker ?"
        out.append(offset(number(seg, "start")) + speaker + ": " + flat(string(seg, "text") or "") + "\n")
    return "".join(out)


def structured(c):
    s = c.get("structured")
    return s if isinstance(s, dict) else {}


def render_summary(c):
    s = structured(c)
    emoji, title = string(s, "emoji"), string(s, "title")
    out = "# " + (flat(emoji) + " " if emoji else "") + (flat(title) if title else "Untitled") + "\n\n"
    out += field("Category", string(s, "category"))
    out += field("Created", string(c, "created_at"))
    out += field("Started", string(c, "started_at"))
    out += field("Finished", string(c, "finished_at"))
    out += field("Language", string(c, "language"))
    out += field("Source", string(c, "source"))
    overview = string(s, "overview")
    if overview:
        out += "\n" + block(overview)
    return out


def dicts(items):
    return [v for v in items if isinstance(v, dict)] if isinstance(items, list) else []


def render_conversation_action_items(c):
    out = ""
    for a in dicts(structured(c).get("action_items")):
        out += "- [x] " if a.get("completed") is True else "- [ ] "
        out += flat(string(a, "description") or "")
        due = string(a, "due_at")
        if due:
            out += f" (due {flat(due)})"
        out += "\n"
    return out


def render_events(c):
    blocks = []
    for e in dicts(structured(c).get("events")):
        out = "## " + (flat(string(e, "title")) if string(e, "title") else "Untitled event") + "\n"
        start, duration = string(e, "start"), number(e, "duration")
        has_duration = duration is not None
        if start or has_duration:
            out += "\n"
        out += field("Start", start)
        if has_duration:
            out += "- Duration: %g minutes\n" % duration
        description = string(e, "description")
        if description:
            out += "\n" + block(description)
        blocks.append(out)
    return "\n".join(blocks)


def local_day(epoch, utc_offset_seconds):
    return (datetime.fromtimestamp(epoch, timezone.utc) + timedelta(seconds=utc_offset_seconds)).strftime("%Y-%m-%d")


FIRST_SEEN = None  # an mtime known only to the cache (see expected_tree)


class Entry:
    def __init__(self, content, mtime, obj=None):
        self.content = content.encode("utf-8") if isinstance(content, str) else content
        self.mtime = mtime
        self.obj = obj  # for conversation.json: compared as JSON, not bytes


def object_id(item):
    """An item's id by jsontext.h's rule: a non-empty string or an integer;
    in a string holding NULs, each NUL is written \\0 and each backslash
    doubled. None when there is no usable id."""
    ident = item.get("id")
    if isinstance(ident, bool) or not isinstance(ident, (str, int)):
        return None
    ident = str(ident)
    if "\0" in ident:
        ident = ident.replace("\\", "\\\\").replace("\0", "\\0")
    return ident or None


def usable(items):
    """What omifs keeps of a listing: the first item of each usable id."""
    seen = set()
    for item in items:
        ident = object_id(item)
        if ident is None or ident in seen:
            continue
        seen.add(ident)
        yield item


def expected_tree(data, utc_offset_seconds=0):
    """Maps each file path (relative, '/'-separated) to an Entry."""
    files = {}
    for m in usable(data["memories"]):
        category = safe_name(string(m, "category") or "uncategorized") or "uncategorized"
        name = safe_name(object_id(m), ".txt")
        if name is None:
            continue
        path = f"memories/{category}/{name}"
        # Without a timestamp of its own, a memory is dated when the cache
        # first saw it: a time the reference cannot know (FIRST_SEEN).
        mtime = first_valid(string(m, "updated_at"), string(m, "created_at")) or FIRST_SEEN
        files.setdefault(path, Entry(render_memory(m), mtime))
    for a in usable(data["action_items"]):
        name = safe_name(object_id(a), ".txt")
        if name is None:
            continue
        state = "done" if a.get("completed") is True else "open"
        mtime = first_valid(string(a, "updated_at"), string(a, "completed_at"), string(a, "created_at"))
        files.setdefault(f"action-items/{state}/{name}", Entry(render_action_item(a), mtime))
    for c in usable(data["conversations"]):
        created = parse_time(string(c, "created_at"))
        day = local_day(created, utc_offset_seconds) if created is not None else "undated"
        name = safe_name(object_id(c))
        if name is None:
            continue
        base = f"conversations/{day}/{name}"
        if base + "/summary.md" in files:
            continue
        mtime = first_valid(string(c, "finished_at"), string(c, "started_at"), string(c, "created_at"))
        files[base + "/summary.md"] = Entry(render_summary(c), mtime)
        files[base + "/action-items.md"] = Entry(render_conversation_action_items(c), mtime)
        if dicts(structured(c).get("events")):
            files[base + "/events.md"] = Entry(render_events(c), mtime)
        files[base + "/transcript.txt"] = Entry(render_transcript(c), mtime)
        files[base + "/conversation.json"] = Entry(b"", mtime, obj=c)
    # Only a server that serves goals has them in what a client sees.
    for g in usable(data.get("goals", [])):
        name = safe_name(object_id(g), ".md")
        if name is None:
            continue
        mtime = first_valid(string(g, "updated_at"), string(g, "created_at")) or FIRST_SEEN
        files.setdefault(f"goals/{name}", Entry(render_goal(g), mtime))
    return files


def expected_dirs(files, goals=False):
    """Every directory implied by the files, with the newest mtime inside
    (FIRST_SEEN when a file inside has that); goals/ when the server serves
    them."""
    dirs = {"memories": 0, "conversations": 0, "action-items": 0,
            "action-items/open": 0, "action-items/done": 0}
    if goals:
        dirs["goals"] = 0
    for path, entry in files.items():
        parts = path.split("/")
        for i in range(1, len(parts)):
            d = "/".join(parts[:i])
            if entry.mtime is FIRST_SEEN or dirs.get(d) is FIRST_SEEN:
                dirs[d] = FIRST_SEEN
            else:
                dirs[d] = max(dirs.get(d, 0), entry.mtime)
    return dirs


def mtime_matches(found, expected, started=None):
    """Whether a file's st_mtime is the expected one; a FIRST_SEEN one must
    be a real time, not later than now (and not before started, if given)."""
    if expected is FIRST_SEEN:
        return (started or 1_000_000_000) - 1 <= found <= time.time() + 1
    return int(found) == expected


def json_equal(text, obj):
    return json.loads(text) == obj
