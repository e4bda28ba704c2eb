"""The views of issue 15, mounted: JSON Lines at the root, the markdown vault
under vault/, and extended attributes behind -o xattr.

What each view must hold is computed here from the emulator's data (with
reference.py's renderings of the id tree's files), independently of
src/vault.c: two implementations of one spec (omifs.1, VIEWS)."""

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import time
import unicodedata
from collections import Counter, defaultdict
from datetime import datetime, timezone

import pytest
import yaml

import reference
from emulator import UNLIMITED
from fsutil import files_under, wait_for
from reference import dicts, flat, object_id, parse_time, string, structured, usable

JSONL = ("memories.jsonl", "action-items.jsonl", "conversations.jsonl")
JSONL_KINDS = (("memories.jsonl", "memories"), ("action-items.jsonl", "action_items"),
               ("conversations.jsonl", "conversations"))
NOT_CACHED = "> The transcript is not cached yet: `omifs sync` fetches it."
CLASH = re.compile(r"(.*) \(([0-9a-f]{8})\)", re.S)


# ---- the vault's rules, from the spec --------------------------------------------------------

BIDI_CONTROLS = {0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)}
UNSAFE_IN_NAME = set('/\\:*?"<>|#^[]')
TITLE_BYTES = 100


def clean_title(title):
    """structured.title as a note's name holds it (spec: <title>)."""
    out = []
    for ch in title or "":
        cp = ord(ch)
        if cp in BIDI_CONTROLS or 0xD800 <= cp <= 0xDFFF:
            continue
        out.append(" " if cp < 0x20 or cp == 0x7F or ch in UNSAFE_IN_NAME else ch)
    text = re.sub(" +", " ", "".join(out)).lstrip(" ").rstrip(" .")
    data = text.encode("utf-8")
    if len(data) > TITLE_BYTES:
        text = data[:TITLE_BYTES].decode("utf-8", "ignore").rstrip(" .")
    return text or "Untitled"


def created_epoch(c):
    return parse_time(string(c, "created_at"))


def utc(epoch):
    return datetime.fromtimestamp(epoch, timezone.utc)  # the mounts run with TZ=UTC


def base_note_name(c):
    """A note's name before a clash suffix, without ".md"."""
    t = created_epoch(c)
    if t is None:
        return "undated " + clean_title(string(structured(c), "title"))
    return utc(t).strftime("%Y-%m-%d %H%M ") + clean_title(string(structured(c), "title"))


def conversation_day(c):
    t = created_epoch(c)
    return None if t is None else utc(t).strftime("%Y-%m-%d")


def conversation_mtime(c):
    return reference.first_valid(string(c, "finished_at"), string(c, "started_at"), string(c, "created_at"))


def speaker_label(seg):
    """A segment's speaker as transcript.txt writes it (reference.render_transcript)."""
    name, sid = string(seg, "speaker_name"), reference.integer(seg, "speaker_id")
    if name:
        return flat(name)
    return f"Speaker {sid}" if sid is not None else "Speaker ?"


def tag_variants(category):
    """The category as a tag: each char outside [A-Za-z0-9_/-] as '-'. Whether a
    multi-byte character is one '-' or one per byte, the spec leaves open."""
    per_char = re.sub(r"[^A-Za-z0-9_/-]", "-", category)
    per_byte = re.sub(rb"[^A-Za-z0-9_/-]", b"-", category.encode("utf-8")).decode()
    return {per_char, per_byte}


def precise_epoch(text):
    t = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t.timestamp()


def check_front_matter(fm, c, transcript_cached=True):
    """fm (yaml.safe_load's dict) against the conversation c (with its transcript)."""
    st = structured(c)
    expected = {"id": object_id(c)}
    for key, value in (("created", string(c, "created_at")), ("started", string(c, "started_at")),
                       ("finished", string(c, "finished_at")), ("category", string(st, "category")),
                       ("language", string(c, "language")), ("source", string(c, "source"))):
        if value:
            expected[key] = value
    started, finished = parse_time(string(c, "started_at")), parse_time(string(c, "finished_at"))
    durations = set()
    if started is not None and finished is not None and finished >= started:
        # Whole seconds of each time, or of the difference: the spec says neither.
        durations = {finished - started,
                     int(precise_epoch(string(c, "finished_at")) - precise_epoch(string(c, "started_at")))}
    got = dict(fm)
    duration = got.pop("duration", None)
    if durations:
        assert isinstance(duration, int) and duration in durations, (c["id"], duration, durations)
    else:
        assert duration is None, (c["id"], duration)
    speakers = got.pop("speakers", None)
    if transcript_cached:
        want = list(dict.fromkeys(speaker_label(s) for s in dicts(c.get("transcript_segments"))))
        assert (speakers or []) == want, c["id"]
        if want:
            assert speakers == want, c["id"]
    tags = got.pop("tags", None)
    category = string(st, "category")
    if category:
        assert isinstance(tags, list) and len(tags) == 2 and tags[0] == "omi", (c["id"], tags)
        assert tags[1] in tag_variants(category), (c["id"], tags)
    else:
        assert tags == ["omi"], (c["id"], tags)
    assert got == expected, c["id"]


def split_note(text):
    """(front matter as yaml.safe_load reads it, the body after the closing ---)."""
    assert text.startswith("---\n"), text[:80]
    end = text.index("\n---\n", 3)
    fm = yaml.safe_load(text[4:end + 1])
    assert isinstance(fm, dict), text[:200]
    return fm, text[end + 5:]


def sections(body):
    """Maps each "## " heading of a markdown text to the lines under it."""
    out, current = {}, None
    for line in body.split("\n"):
        if line.startswith("## "):
            current = line[3:]
            assert current not in out, f"two sections {current!r}"
            out[current] = []
        elif current is not None:
            out[current].append(line)
    return out


def items(lines):
    """A section's list items ("- ..."), its blank lines dropped."""
    assert all(line == "" or line.startswith("- ") for line in lines), lines
    return [line for line in lines if line]


def task_line(a):
    """A task line as action-items.md writes it."""
    return reference.render_conversation_action_items({"structured": {"action_items": [a]}}).rstrip("\n")


# ---- reading the mount ------------------------------------------------------------------------

def read(path):
    """A file's text, its line ends as they are (no universal newlines)."""
    with open(path, encoding="utf-8", newline="") as f:
        return f.read()


def vault_notes(m):
    """Maps each note's name to its text."""
    d = m.p("vault", "Conversations")
    return {name: read(os.path.join(d, name)) for name in os.listdir(d)}


def notes_by_id(m):
    """Maps each conversation id to (note name, front matter, body); fails on an id with two notes."""
    out = {}
    for name, text in vault_notes(m).items():
        fm, body = split_note(text)
        assert fm["id"] not in out, f"two notes for {fm['id']}: {out[fm['id']][0]!r} and {name!r}"
        out[fm["id"]] = (name, fm, body)
    return out


def listed_conversations(data):
    return list(usable(data["conversations"]))


def tree_path(c):
    return os.path.join("conversations", conversation_day(c) or "undated", reference.safe_name(object_id(c)))


def name_key(name):
    """How macOS, Windows and Obsidian compare names: case folded, NFC."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())


def check_names(convs, names_by_id):
    """Every conversation's note name is the spec's: day, time, cleaned title,
    a suffix exactly when another conversation would get the same name, or
    one that differs only in case or Unicode normalisation."""
    bases = Counter(name_key(base_note_name(c)) for c in convs)
    suffixes = set()
    for c in convs:
        name = names_by_id[object_id(c)]
        base = base_note_name(c)
        if bases[name_key(base)] > 1:
            m = CLASH.fullmatch(name[:-3])
            assert m and m[1] == base and name.endswith(".md"), (name, base)
            suffixes.add(m[2])
        else:
            assert name == base + ".md", (name, base)
    assert len(suffixes) == sum(n for n in bases.values() if n > 1)


def settled(condition, timeout):
    """Waits up to timeout seconds for condition; whether it came true (no failure here)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def read_all(path):
    subprocess.run(["sh", "-c", 'find "$1" -type f -exec cat {} + >/dev/null', "sh", path], check=True,
                   timeout=120)


# ---- the shared, read-only mounts of both profiles -----------------------------------------

def test_size_equals_bytes_read_on_a_cold_vault(shared):
    """First in the file: every stat here comes before anything under vault/ is read."""
    _, m = shared
    out = subprocess.run(["find", m.p("vault"), *[m.p(j) for j in JSONL], "-type", "f", "-printf", "%s %p\\0"],
                         capture_output=True, timeout=120, check=True).stdout
    sized = [entry.split(b" ", 1) for entry in out.split(b"\0") if entry]
    assert len(sized) > 3 + 3  # the .jsonl files, Action items.md, notes...
    for size, path in sized:
        got = subprocess.run(["cat", path], capture_output=True, timeout=60, check=True).stdout
        assert len(got) == int(size), path
        assert os.stat(path).st_size == len(got), path


def test_vault_layout(shared):
    emu, m = shared
    root = os.listdir(m.path)
    assert set(JSONL) | {"vault"} <= set(root)
    goals = ["Goals.md"] if "goals" in emu.data() else []
    assert sorted(os.listdir(m.p("vault"))) == sorted(["Action items.md", "Conversations", "Daily",
                                                       "Memories", *goals])


def test_every_conversation_has_exactly_one_note_named_by_the_spec(shared):
    emu, m = shared
    convs = listed_conversations(emu.data())
    by_id = notes_by_id(m)
    assert set(by_id) == {object_id(c) for c in convs}
    assert len(os.listdir(m.p("vault", "Conversations"))) == len(convs)
    # The id tree shows the same conversations.
    tree_ids = {i for d in os.listdir(m.p("conversations")) for i in os.listdir(m.p("conversations", d))}
    assert tree_ids == set(by_id)
    check_names(convs, {i: v[0] for i, v in by_id.items()})


def test_daily_notes_list_each_conversation_of_their_day(shared):
    emu, m = shared
    convs = listed_conversations(emu.data())
    by_id = notes_by_id(m)
    days = set(os.listdir(m.p("conversations"))) - {"undated"}
    assert sorted(os.listdir(m.p("vault", "Daily"))) == sorted(d + ".md" for d in days)
    of_day = defaultdict(list)
    for c in convs:
        day = conversation_day(c)
        assert os.path.isdir(m.p("conversations", day, c["id"]))
        of_day[day].append(c)
    days_with_tasks = 0
    for day in days:
        text = read(m.p("vault", "Daily", day + ".md"))
        assert text.startswith(f"# {day}\n\n## Conversations\n\n"), text[:100]
        parts = sections(text)
        assert set(parts) <= {"Conversations", "Open action items"}, day
        day_convs = sorted(of_day[day], key=lambda c: by_id[c["id"]][0].encode())
        want, tasks = [], []
        for c in day_convs:
            note = by_id[c["id"]][0][:-3]
            link = f"[[{note}|{clean_title(string(structured(c), 'title'))}]]"
            want.append(f"- {utc(created_epoch(c)).strftime('%H:%M')} {link}")
            tasks += [task_line(a) + " · " + link for a in dicts(structured(c).get("action_items"))
                      if a.get("completed") is not True]
        assert items(parts["Conversations"]) == want, day
        if tasks:
            # Their order beyond "the day's" is not specified: compared as a multiset.
            assert sorted(items(parts["Open action items"])) == sorted(tasks), day
            days_with_tasks += 1
        else:
            assert "Open action items" not in parts, day
    assert days_with_tasks > 0


def test_front_matter_and_body_match_the_conversation(shared):
    emu, m = shared
    by_id = notes_by_id(m)
    seen = Counter()
    for c in listed_conversations(emu.data()):
        name, fm, body = by_id[object_id(c)]
        check_front_matter(fm, c)
        st = structured(c)
        heading = reference.render_summary(c).split("\n", 1)[0]
        assert body.startswith("\n" + heading + "\n"), (name, body[:200])
        overview = string(st, "overview")
        if overview:
            assert "\n" + reference.block(overview) in body, name
        parts = sections(body)
        tasks = reference.render_conversation_action_items(c)
        if tasks:
            assert "\n## Action items\n\n" + tasks in body, name
            seen["tasks"] += 1
        else:
            assert "Action items" not in parts, name
        events = dicts(st.get("events"))
        assert ("Events" in parts) == bool(events), name
        seen["events"] += bool(events)
        seen["duration"] += "duration" in fm
        for e in events:
            assert "\n### " + flat(string(e, "title") or "Untitled event") in body, name
        transcript = read(m.p(tree_path(c), "transcript.txt"))
        assert transcript == reference.render_transcript(c)
        if transcript:
            assert body.endswith("\n## Transcript\n\n" + transcript), name
        else:
            assert "\n".join(parts.get("Transcript", [])).strip() == "", name
            seen["no transcript"] += 1
        assert NOT_CACHED not in body
    assert min(seen[k] for k in ("tasks", "events", "duration", "no transcript")) > 0, seen


def test_conversation_notes_are_dated_by_their_conversation(shared):
    emu, m = shared
    by_id = notes_by_id(m)
    convs = listed_conversations(emu.data())
    newest_of_day = defaultdict(int)
    for c in convs:
        name = by_id[object_id(c)][0]
        assert int(os.stat(m.p("vault", "Conversations", name)).st_mtime) == conversation_mtime(c), name
        newest_of_day[conversation_day(c)] = max(newest_of_day[conversation_day(c)], conversation_mtime(c))
    for day, mtime in newest_of_day.items():
        assert int(os.stat(m.p("vault", "Daily", day + ".md")).st_mtime) == mtime, day
    # Memories/<c>.md, Action items.md and the .jsonl files: the newest item, as the id tree dates it.
    for category in os.listdir(m.p("memories")):
        newest = max(os.stat(p).st_mtime for p in files_under(m.p("memories", category)).values())
        assert os.stat(m.p("vault", "Memories", category + ".md")).st_mtime == newest, category
    newest_memory = max(os.stat(p).st_mtime for p in files_under(m.p("memories")).values())
    newest_item = max(os.stat(p).st_mtime for p in files_under(m.p("action-items")).values())
    assert os.stat(m.p("vault", "Action items.md")).st_mtime == newest_item
    assert os.stat(m.p("action-items.jsonl")).st_mtime == newest_item
    assert os.stat(m.p("memories.jsonl")).st_mtime == newest_memory
    assert int(os.stat(m.p("conversations.jsonl")).st_mtime) == max(conversation_mtime(c) for c in convs)
    # The vault's directories: the cache's birth, as the root's.
    for d in ("vault", "vault/Conversations", "vault/Daily", "vault/Memories"):
        assert os.stat(m.p(d)).st_mtime == os.stat(m.path).st_mtime, d


def test_memory_notes_have_a_line_per_memory(shared):
    emu, m = shared
    content = {object_id(x): string(x, "content") or "" for x in usable(emu.data()["memories"])}
    categories = os.listdir(m.p("memories"))
    assert sorted(os.listdir(m.p("vault", "Memories"))) == sorted(c + ".md" for c in categories)
    for category in categories:
        text = read(m.p("vault", "Memories", category + ".md"))
        assert text.startswith(f"# {category}\n\n") and text.endswith("\n"), category
        lines = text[len(f"# {category}\n\n"):].split("\n")[:-1]
        files = sorted(os.listdir(m.p("memories", category)))
        want = ["- " + flat(content[f.removesuffix(".txt")]) for f in files]
        # Whether a trailing newline of a memory leaves a trailing space, the spec leaves open.
        assert [line.rstrip() for line in lines] == [line.rstrip() for line in want], category


def test_action_items_note_lists_open_and_done(shared):
    emu, m = shared
    by_id = {object_id(a): a for a in usable(emu.data()["action_items"])}
    text = read(m.p("vault", "Action items.md"))
    assert text.startswith("# Action items\n\n## Open\n\n"), text[:100]
    parts = sections(text)
    assert list(parts) == ["Open", "Done"]
    for state, mark in (("open", "- [ ] "), ("done", "- [x] ")):
        files = sorted(os.listdir(m.p("action-items", state)))
        want = []
        for f in files:
            a = by_id[f.removesuffix(".txt")]
            due = string(a, "due_at")
            want.append(mark + flat(string(a, "description") or "") + (f" (due {flat(due)})" if due else ""))
        assert items(parts[state.capitalize()]) == want, state
    assert len(items(parts["Open"])) > 0 and len(items(parts["Done"])) > 0


def goal_line(g):
    """A goal's line in Goals.md (spec: VIEWS)."""
    line = "- " + flat(string(g, "title") or "(untitled goal)")
    current, target, unit = string(g, "current_value"), string(g, "target_value"), string(g, "unit")
    if current and target:
        line += f": {flat(current)} of {flat(target)}" + (f" {flat(unit)}" if unit else "")
    return line + ("" if g.get("is_active") is True else " (inactive)")


def test_goals_note_and_jsonl_list_every_goal(shared):
    emu, m = shared
    data = emu.data()
    if "goals" not in data:
        # The documented API has no goals: no file of theirs anywhere.
        assert not [p for p in files_under(m.path, views=True) if "goal" in p.lower()]
        return
    goals = list(usable(data["goals"]))
    assert goals and any(g["history"] for g in goals)
    files = sorted(os.listdir(m.p("goals")))
    by_id = {object_id(g): g for g in goals}
    assert files == sorted(reference.safe_name(i, ".md") for i in by_id)
    want = "# Goals\n\n" + "".join(goal_line(by_id[f.removesuffix(".md")]) + "\n" for f in files)
    assert read(m.p("vault", "Goals.md")) == want
    with open(m.p("goals.jsonl"), "rb") as f:
        lines = f.read().decode().splitlines()
    # The listing's objects, each with the history omifs fetched for it.
    assert [json.loads(line) for line in lines] == goals


def test_jsonl_files_hold_the_listings_one_object_a_line(shared):
    emu, m = shared
    data = emu.data()
    for name, kind, tree_ids in (
            ("memories.jsonl", "memories",
             {f.removesuffix(".txt") for d in os.listdir(m.p("memories")) for f in os.listdir(m.p("memories", d))}),
            ("action-items.jsonl", "action_items",
             {f.removesuffix(".txt") for d in ("open", "done") for f in os.listdir(m.p("action-items", d))}),
            ("conversations.jsonl", "conversations",
             {i for d in os.listdir(m.p("conversations")) for i in os.listdir(m.p("conversations", d))})):
        with open(m.p(name), "rb") as f:
            raw = f.read()
        assert raw.endswith(b"\n"), name
        lines = raw[:-1].split(b"\n")
        objects = []
        for line in lines:
            assert line and b"\r" not in line, (name, line[:100])
            obj = json.loads(line)
            assert isinstance(obj, dict), (name, line[:100])
            objects.append(obj)
        expected = list(usable(data[kind]))
        # In listing order, the object the server sent (a conversation without its transcript).
        assert [object_id(o) for o in objects] == [object_id(o) for o in expected], name
        assert {object_id(o) for o in objects} == tree_ids, name
        for obj, want in zip(objects, expected):
            if kind == "conversations":
                assert "transcript_segments" not in obj, obj["id"]
                want = {k: v for k, v in want.items() if k != "transcript_segments"}
            assert obj == want, (name, obj.get("id"))
        # Reads at any offset give the same bytes (lines cut across reads).
        with open(m.p(name), "rb", buffering=0) as f:
            fd = f.fileno()
            for off in range(0, len(raw), max(1, len(raw) // 37)):
                assert os.pread(fd, 777, off) == raw[off:off + 777], (name, off)
            assert os.pread(fd, 100, len(raw)) == b""
        if shutil.which("jq"):
            ids = subprocess.run(["jq", "-r", ".id", m.p(name)], capture_output=True, text=True, timeout=30,
                                 check=True).stdout.split("\n")[:-1]
            assert ids == [o["id"] for o in objects], name


def test_no_xattrs_without_the_option(shared):
    emu, m = shared
    data = emu.data()
    c = listed_conversations(data)[0]
    memory_dir = os.listdir(m.p("memories"))[0]
    paths = [m.p(tree_path(c)), m.p(tree_path(c), "summary.md"),
             m.p("memories", memory_dir, os.listdir(m.p("memories", memory_dir))[0]),
             m.p("action-items", "open", os.listdir(m.p("action-items", "open"))[0]),
             m.p("vault", "Conversations", os.listdir(m.p("vault", "Conversations"))[0]),
             m.p("conversations.jsonl")]
    for path in paths:
        try:
            assert os.listxattr(path) == [], path
        except OSError as e:
            assert e.errno == errno.ENOTSUP, (path, e)
        with pytest.raises(OSError) as e:
            os.getxattr(path, "user.omi.id")
        assert e.value.errno in (errno.ENODATA, errno.ENOTSUP), path
    for d in (m.p(os.path.dirname(tree_path(c))), m.p("vault", "Conversations"), m.path):
        out = subprocess.run(["ls", "-l", d], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0 and out.stderr == "", (d, out.stderr)
    if shutil.which("getfattr"):
        out = subprocess.run(["getfattr", "-d", "-m", "-", paths[0]], capture_output=True, text=True, timeout=30)
        assert out.stdout == ""


def test_second_rsync_of_the_vault_copies_nothing_and_warm_reads_ask_nothing(shared, tmp_path):
    emu, m = shared
    backup = tmp_path / "vault"
    first = subprocess.run(["rsync", "-a", m.p("vault") + "/", str(backup) + "/"], capture_output=True,
                           text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    copied = files_under(str(backup))
    assert sorted(copied) == sorted(files_under(m.p("vault")))
    for rel, full in copied.items():
        with open(full, "rb") as a, open(m.p("vault", rel), "rb") as b:
            assert a.read() == b.read(), rel
    second = subprocess.run(["rsync", "-a", "--itemize-changes", "--stats", m.p("vault") + "/", str(backup) + "/"],
                            capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    itemized, _, stats = second.stdout.partition("Number of files:")
    assert itemized.strip() == "", itemized
    assert "Number of regular files transferred: 0\n" in stats, stats
    # Everything is warm now: reading all of it again asks the server nothing.
    emu.reset_stats()
    read_all(m.p("vault"))
    for j in JSONL:
        read(m.p(j))
    subprocess.run(["ls", "-lR", m.p("vault")], capture_output=True, check=True, timeout=60)
    assert emu.requests_total() == 0, emu.stats()


# ---- accounts of their own -----------------------------------------------------------------

SEGMENTS = [
    {"id": "s1", "text": "Shalom, \"quoted\" and back\\slashed", "speaker_id": 0, "speaker_name": "Noa \"N\" \\ Levi",
     "start": 1.0, "end": 2.0},
    {"id": "s2", "text": "second line\nwith a newline", "speaker_id": 1, "start": 65.5, "end": 70.0},
    {"id": "s3", "text": "back to Noa", "speaker_id": 0, "speaker_name": "Noa \"N\" \\ Levi",
     "start": 3700.0, "end": 3701.0},
    {"id": "s4", "text": "a third voice", "speaker_id": 2, "speaker_name": "Zoë 🎤\u2028next", "start": 3702.0,
     "end": 3703.0},
]


def conversation(ident, title, created="2025-06-10T10:15:05Z", **extra):
    c = {"id": ident, "created_at": created, "started_at": created, "finished_at": "2025-06-10T11:15:05Z",
         "structured": {"title": title, "overview": "An overview.", "emoji": "🧪", "category": "work",
                        "action_items": [], "events": []},
         "transcript_segments": SEGMENTS}
    for k, v in extra.items():
        if k == "structured":
            c["structured"].update(v)
        else:
            c[k] = v
    return c


HOSTILE = [
    conversation("slash", "Q3 plan / budget review: A/B tests", "2025-06-10T08:00:00Z"),
    conversation("newlines", "first line\nsecond line\r\nthird\tcolumn", "2025-06-10T08:01:00Z"),
    conversation("emoji", "Birthday 🎉🎂 party 👨‍👩‍👧‍👦", "2025-06-10T08:02:00Z"),
    conversation("rtl", "שלום مرحبا \u202Egnp.exe\u202C \u200Fend", "2025-06-10T08:03:00Z"),
    conversation("dotdot", "..", "2025-06-10T08:04:00Z"),
    conversation("dots", "  ../../etc/passwd ...  ", "2025-06-10T08:05:00Z"),
    conversation("long-ascii", "Long " + "abcdefghij" * 31, "2025-06-10T08:06:00Z"),
    conversation("long-utf8", "x" * 99 + "é" + "ü" * 150, "2025-06-10T08:07:00Z"),
    conversation("specials", 'a\\b:c*d?e"f<g>h|i#j^k[l]m\x01n\x7fo', "2025-06-10T08:08:00Z"),
    conversation("empty", "", "2025-06-10T08:09:00Z"),
    conversation("nul", "before\u0000after", "2025-06-10T08:10:00Z"),
    # Two of the same title in the same minute clash; a third, a minute later, does not.
    conversation("twin-a", "Same title", "2025-06-11T09:30:05Z"),
    conversation("twin-b", "Same title", "2025-06-11T09:30:55.5Z"),
    conversation("twin-c", "Same title", "2025-06-11T09:31:00Z"),
    # Titles that differ only in case or Unicode normalisation clash on macOS,
    # Windows and in Obsidian's links.
    conversation("case-a", "Case fold", "2025-06-11T11:00:00Z"),
    conversation("case-b", "CASE FOLD", "2025-06-11T11:00:10Z"),
    conversation("nfc", "Caf\u00e9", "2025-06-11T12:00:00Z"),
    conversation("nfd", "Cafe\u0301", "2025-06-11T12:00:20Z"),
    # Different titles, the same once cut to 100 bytes.
    conversation("cut-a", "Cut " + "y" * 120 + " one", "2025-06-11T10:00:00Z"),
    conversation("cut-b", "Cut " + "y" * 120 + " two", "2025-06-11T10:00:30Z"),
    # YAML's hard cases, in the front matter's strings.
    conversation('yaml-"id"\\x', "YAML", "2025-06-12T07:00:00+02:00", language="key: value # not a comment",
                 source="null", structured={"category": "cat \"q\" \\ x\ny\tz\u2028\u0085\ufeff\x01é"}),
    conversation("undated", "No date", None, started_at=None, finished_at=None),
    conversation("backwards", "Finished before it started", "2025-06-13T10:00:00Z",
                 finished_at="2025-06-13T09:00:00Z", structured={"category": None}),
]


def mount_hostile(emulator_factory, mount_factory, profile="backend"):
    emu = emulator_factory(*UNLIMITED, "--conversations", "0", "--memories", "2", "--action-items", "2",
                           profile=profile)
    for c in HOSTILE:
        emu.add("conversations", c)
    return emu, mount_factory(emu.url, "ttl=1", "refresh=3600", "full_refresh=3600")


def check_safe(name):
    data = name.encode("utf-8", "surrogateescape")
    assert name.endswith(".md") and len(data) <= 255, name
    assert not any(ord(ch) < 0x20 or ord(ch) == 0x7F or ord(ch) in BIDI_CONTROLS for ch in name), repr(name)
    assert not set(name) & UNSAFE_IN_NAME, name
    assert name not in (".", "..") and not name.startswith("."), name
    data.decode("utf-8")  # valid UTF-8


def test_hostile_titles_give_safe_unique_stable_names(emulator_factory, mount_factory):
    emu, m = mount_hostile(emulator_factory, mount_factory)
    convs = listed_conversations(emu.data())
    assert len(convs) == len(HOSTILE)
    by_id = notes_by_id(m)
    names = {i: v[0] for i, v in by_id.items()}
    assert set(names) == {c["id"] for c in HOSTILE}
    assert len(set(names.values())) == len(names)
    assert len({name_key(n) for n in names.values()}) == len(names)
    for name in names.values():
        check_safe(name)
    # The NUL's fate (cut there or replaced) is the model's: only its safety is checked.
    check_names([c for c in convs if c["id"] != "nul"], names)
    assert names["emoji"] == "2025-06-10 0802 Birthday 🎉🎂 party 👨‍👩‍👧‍👦.md"
    assert names["rtl"] == "2025-06-10 0803 שלום مرحبا gnp.exe end.md"
    assert names["dotdot"] == "2025-06-10 0804 Untitled.md"
    assert names["long-utf8"] == "2025-06-10 0807 " + "x" * 99 + ".md"
    assert names["undated"] == "undated No date.md"
    assert re.fullmatch(r"2025-06-11 0930 Same title \([0-9a-f]{8}\)\.md", names["twin-a"])
    assert names["twin-c"] == "2025-06-11 0931 Same title.md"
    assert re.fullmatch(r"2025-06-11 1100 CASE FOLD \([0-9a-f]{8}\)\.md", names["case-b"])
    assert re.fullmatch("2025-06-11 1200 Cafe\u0301 \\([0-9a-f]{8}\\)\\.md", names["nfd"])
    assert CLASH.fullmatch(names["cut-a"][:-3]) and CLASH.fullmatch(names["cut-b"][:-3])
    assert sorted(os.listdir(m.p("vault", "Daily"))) == ["2025-06-10.md", "2025-06-11.md", "2025-06-12.md",
                                                         "2025-06-13.md"]
    for c in convs:
        name, fm, body = by_id[c["id"]]
        check_front_matter(fm, c)
        assert body.startswith("\n" + reference.render_summary(c).split("\n", 1)[0] + "\n"), name
        assert body.endswith("\n## Transcript\n\n" + reference.render_transcript(c)), name
        path = m.p("vault", "Conversations", name)
        with open(path, "rb") as f:
            assert len(f.read()) == os.stat(path).st_size, name
    assert by_id['yaml-"id"\\x'][1]["source"] == "null"
    assert "duration" not in by_id["backwards"][1]
    assert by_id["slash"][1]["speakers"] == ['Noa "N" \\ Levi', "Speaker 1", "Zoë 🎤\u2028next"]
    # The same names after a remount on the same cache, and after one offline.
    before = sorted(os.listdir(m.p("vault", "Conversations")))
    m.stop()
    m.start()
    assert sorted(os.listdir(m.p("vault", "Conversations"))) == before
    assert {i: v[0] for i, v in notes_by_id(m).items()} == names


def test_a_title_edit_renames_the_note_and_the_daily_note_follows(emulator_factory, mount_factory):
    emu, m = mount_hostile(emulator_factory, mount_factory)
    old = "2025-06-10 0800 Q3 plan budget review A B tests.md"
    new = "2025-06-10 0800 Renamed by a test.md"
    assert old in os.listdir(m.p("vault", "Conversations"))
    daily = m.p("vault", "Daily", "2025-06-10.md")
    assert "[[2025-06-10 0800 Q3 plan budget review A B tests|" in read(daily)
    assert "\n## Transcript\n\n[00:00:01] " in read(m.p("vault", "Conversations", old))  # fetched
    emu.patch("conversations", "slash", {"structured": {"title": "Renamed: by a test?",
                                                        "overview": "A new overview."}})
    m.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: new in os.listdir(m.p("vault", "Conversations")), timeout=30)
    names = os.listdir(m.p("vault", "Conversations"))
    assert old not in names and len(names) == len(HOSTILE)
    assert not os.path.exists(m.p("vault", "Conversations", old))
    fm, body = split_note(read(m.p("vault", "Conversations", new)))
    assert fm["id"] == "slash"
    # The note shows the edit too, not a copy kept from before it.
    c = emu.get("conversations", "slash")
    heading = read(m.p("conversations", "2025-06-10", "slash", "summary.md")).split("\n", 1)[0]
    assert heading == "# 🧪 Renamed: by a test?"
    assert body.startswith("\n" + heading + "\n\nA new overview.\n"), body[:200]
    assert body.endswith("\n## Transcript\n\n" + reference.render_transcript(c))
    text = read(daily)
    assert "- 08:00 [[2025-06-10 0800 Renamed by a test|Renamed by a test]]\n" in text
    assert "Q3 plan" not in text
    with open(daily, "rb") as f:
        assert len(f.read()) == os.stat(daily).st_size
    # A deleted conversation takes its note, and the daily note of a day left empty, with it.
    emu.delete("conversations", "backwards")
    m.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "1 missing from the last listing" in read(m.p(".omifs", "status")), timeout=30)
    m.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: not os.path.exists(m.p("conversations", "2025-06-13")), timeout=30)
    wait_for(lambda: len(os.listdir(m.p("vault", "Conversations"))) == len(HOSTILE) - 1, timeout=10)
    assert "2025-06-13.md" not in os.listdir(m.p("vault", "Daily"))
    assert not any(n.startswith("2025-06-13 ") for n in os.listdir(m.p("vault", "Conversations")))
    assert "backwards" not in {json.loads(x)["id"] for x in read(m.p("conversations.jsonl")).split("\n")[:-1]}


@pytest.mark.parametrize("profile", ["documented", "backend"])
def test_offline_note_without_its_transcript_says_so(profile, emulator_factory, mount_factory, tmp_path):
    emu = emulator_factory(*UNLIMITED, "--conversations", "6", "--segments", "3", "--memories", "2",
                           "--action-items", "3", profile=profile)
    cache = tmp_path / "cache"
    online = mount_factory(emu.url, f"cache_dir={cache}", "page_size=5")
    # Names only: no stat, no read, so no transcript is fetched.
    for day in os.listdir(online.p("conversations")):
        os.listdir(online.p("conversations", day))
    assert len(os.listdir(online.p("vault", "Conversations"))) == 6
    online.stop()
    emu.reset_stats()
    m = mount_factory(emu.url, f"cache_dir={cache}", "offline")
    by_id = notes_by_id(m)
    data = emu.data()
    assert set(by_id) == {c["id"] for c in data["conversations"]}
    for c in listed_conversations(data):
        name, fm, body = by_id[c["id"]]
        path = m.p("vault", "Conversations", name)
        size = os.stat(path).st_size
        with open(path, "rb") as f:
            assert len(f.read()) == size, name
        check_front_matter(fm, c, transcript_cached=False)
        assert body.split("\n").count(NOT_CACHED) == 1, (name, body[-300:])
        assert body.endswith("\n## Transcript\n\n" + NOT_CACHED + "\n"), (name, body[-300:])
        assert not re.search(r"^\[\d\d:\d\d:\d\d\] ", body, re.M), name
    assert emu.requests_total() == 0
    # Online again on the same cache: the notes sized offline now hold their
    # transcripts, and their sizes say so.
    m.stop()
    m = mount_factory(emu.url, f"cache_dir={cache}")
    by_id = notes_by_id(m)
    for c in listed_conversations(data):
        name, fm, body = by_id[c["id"]]
        path = m.p("vault", "Conversations", name)
        with open(path, "rb") as f:
            assert len(f.read()) == os.stat(path).st_size, name
        check_front_matter(fm, c)
        assert NOT_CACHED not in body, name
        assert body.endswith("\n## Transcript\n\n" + reference.render_transcript(c)), name


def test_jsonl_on_a_cold_mount_lists_first_and_an_empty_collection_is_empty(emulator_factory, mount_factory):
    emu = emulator_factory(*UNLIMITED, "--conversations", "3", "--segments", "2", "--memories", "4",
                           "--action-items", "0")
    data = emu.data()
    m = mount_factory(emu.url)
    assert set(JSONL) | {"vault"} <= set(os.listdir(m.path))
    for name, kind in JSONL_KINDS:
        size = os.stat(m.p(name)).st_size  # before anything is listed
        with open(m.p(name), "rb") as f:
            raw = f.read()
        assert len(raw) == size, name
        ids = [json.loads(line)["id"] for line in raw.split(b"\n")[:-1]]
        assert ids == [object_id(x) for x in usable(data[kind])], name
    assert os.stat(m.p("action-items.jsonl")).st_size == 0
    text = read(m.p("vault", "Action items.md"))
    assert not [line for line in text.split("\n") if line.startswith("- ")], text


XATTRS = ("user.omi.id", "user.omi.title", "user.omi.category", "user.omi.created_at")


def expected_xattrs(obj, kind):
    if kind == "conversations":
        fields = {"user.omi.id": object_id(obj), "user.omi.title": string(structured(obj), "title"),
                  "user.omi.category": string(structured(obj), "category"),
                  "user.omi.created_at": string(obj, "created_at")}
    elif kind == "memories":
        fields = {"user.omi.id": object_id(obj), "user.omi.category": string(obj, "category"),
                  "user.omi.created_at": string(obj, "created_at")}
    elif kind == "goals":
        fields = {"user.omi.id": object_id(obj), "user.omi.title": string(obj, "title"),
                  "user.omi.created_at": string(obj, "created_at")}
    else:
        fields = {"user.omi.id": object_id(obj), "user.omi.created_at": string(obj, "created_at")}
    return {k: v.encode("utf-8") for k, v in fields.items() if v}


def check_xattrs(path, want):
    assert set(os.listxattr(path)) == set(want), path
    for key in XATTRS:
        if key in want:
            assert os.getxattr(path, key) == want[key], (path, key)
        else:
            with pytest.raises(OSError) as e:
                os.getxattr(path, key)
            assert e.value.errno == errno.ENODATA, (path, key)


def xattr_mount(emulator_factory, mount_factory, profile):
    emu = emulator_factory(*UNLIMITED, "--conversations", "4", "--segments", "3", "--memories", "6",
                           "--action-items", "6", profile=profile)
    emu.add("conversations", conversation("untitled-uncategorized", "", "2025-06-20T10:00:00Z",
                                          structured={"category": ""}))
    emu.add("conversations", HOSTILE[3])  # right-to-left, with bidi controls: the raw title
    emu.add("conversations", conversation("very-long-title", "A title of 5000 bytes " + "z" * 4978,
                                          "2025-06-21T10:00:00Z"))
    emu.add("memories", {"id": "memory-without-category", "content": "No category", "category": ""})
    return emu, mount_factory(emu.url, "xattr")


@pytest.mark.parametrize("profile", ["documented", "backend"])
def test_xattrs_match_the_objects(profile, emulator_factory, mount_factory):
    emu, m = xattr_mount(emulator_factory, mount_factory, profile)
    data = emu.data()
    convs = listed_conversations(data)
    notes = {i: v[0] for i, v in notes_by_id(m).items()}
    assert any("\n" in (string(structured(c), "title") or "") for c in convs)  # a raw title, newline kept
    for c in convs:
        want = expected_xattrs(c, "conversations")
        check_xattrs(m.p(tree_path(c)), want)
        check_xattrs(m.p("vault", "Conversations", notes[c["id"]]), want)
    assert "user.omi.title" not in os.listxattr(m.p(tree_path(next(c for c in convs if c["id"] ==
                                                                    "untitled-uncategorized"))))
    for mem in usable(data["memories"]):
        category = reference.safe_name(string(mem, "category") or "uncategorized")
        check_xattrs(m.p("memories", category, mem["id"] + ".txt"), expected_xattrs(mem, "memories"))
    for a in usable(data["action_items"]):
        state = "done" if a.get("completed") is True else "open"
        check_xattrs(m.p("action-items", state, a["id"] + ".txt"), expected_xattrs(a, "action_items"))
    for g in usable(data.get("goals", [])):
        check_xattrs(m.p("goals", g["id"] + ".md"), expected_xattrs(g, "goals"))
    # Nothing else has attributes: not the other directories, files or views.
    attributed = {m.p(tree_path(c)) for c in convs} | {m.p("vault", "Conversations", n) for n in notes.values()}
    attributed |= {full for full in files_under(m.p("memories")).values()}
    attributed |= {full for full in files_under(m.p("action-items")).values()}
    if "goals" in data:
        attributed |= {full for full in files_under(m.p("goals")).values()}
    others = [m.path]
    for dirpath, dirnames, filenames in os.walk(m.path):
        others += [os.path.join(dirpath, n) for n in dirnames + filenames]
    others = [p for p in others if p not in attributed and "/search" not in p]
    assert len(others) > 20
    for path in others:
        assert os.listxattr(path) == [], path
        with pytest.raises(OSError) as e:
            os.getxattr(path, "user.omi.id")
        assert e.value.errno == errno.ENODATA, path
    for path in others[:5] + sorted(attributed)[:5]:
        with pytest.raises(OSError) as e:
            os.getxattr(path, "user.omi.nope")
        assert e.value.errno == errno.ENODATA, path
    # ls -l asks every file for its ACL and SELinux label: no error shows.
    out = subprocess.run(["ls", "-lR", m.path], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stderr == "", out.stderr


def test_getfattr_shows_the_attributes(emulator_factory, mount_factory):
    if not shutil.which("getfattr"):
        pytest.skip("getfattr is not installed (Debian's attr package); os.getxattr covers the values")
    emu, m = xattr_mount(emulator_factory, mount_factory, "backend")
    c = next(c for c in listed_conversations(emu.data()) if c["id"] == "rtl")
    path = m.p(tree_path(c))
    out = subprocess.run(["getfattr", "-d", "-m", "-", "--absolute-names", path], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    shown = {line.split("=", 1)[0] for line in out.stdout.splitlines() if "=" in line}
    assert shown == set(XATTRS)
    for key, value in expected_xattrs(c, "conversations").items():
        got = subprocess.run(["getfattr", "--only-values", "-n", key, path], capture_output=True,
                             timeout=30, check=True).stdout
        assert got == value, key


def test_a_title_like_a_clash_suffix_does_not_hide_a_note(emulator_factory, mount_factory):
    """A conversation titled exactly as another's suffixed name: both notes stay, named apart."""
    emu, m = mount_hostile(emulator_factory, mount_factory)
    twin = notes_by_id(m)["twin-a"][0]
    literal = twin[len("2025-06-11 0930 "):-len(".md")]  # "Same title (xxxxxxxx)"
    emu.add("conversations", conversation("twin-d", literal, "2025-06-11T09:30:30Z"))
    m.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: os.path.isdir(m.p("conversations", "2025-06-11", "twin-d")), timeout=30)
    settled(lambda: len(os.listdir(m.p("vault", "Conversations"))) == len(HOSTILE) + 1, timeout=10)
    by_id = notes_by_id(m)
    assert set(by_id) == {c["id"] for c in HOSTILE} | {"twin-d"}, sorted(
        n for n in os.listdir(m.p("vault", "Conversations")) if "Same title" in n)
    for name in os.listdir(m.p("vault", "Conversations")):
        check_safe(name)
    daily = read(m.p("vault", "Daily", "2025-06-11.md"))
    for ident in ("twin-a", "twin-b", "twin-c", "twin-d"):
        assert "[[" + by_id[ident][0][:-3] + "|" in daily, ident


def test_changes_reach_the_memory_and_action_item_notes(emulator_factory, mount_factory):
    emu = emulator_factory(*UNLIMITED, "--conversations", "4", "--segments", "2", "--memories", "5",
                           "--action-items", "8")
    data = emu.data()
    m = mount_factory(emu.url, "ttl=1", "refresh=3600", "full_refresh=3600")
    read_all(m.p("vault"))
    # An open item of a conversation: in its day's note, then done.
    item = next(a for a in data["action_items"] if a["completed"] is not True and a["conversation_id"]
                and any(c["id"] == a["conversation_id"] for c in data["conversations"]))
    conv = next(c for c in data["conversations"] if c["id"] == item["conversation_id"])
    daily = m.p("vault", "Daily", conversation_day(conv) + ".md")
    line = task_line(item)
    assert line + " · [[" in read(daily)
    memory = data["memories"][0]
    category = memory["category"]
    emu.patch("action-items", item["id"], {"completed": True, "completed_at": "2025-07-01T10:00:00Z"})
    emu.patch("memories", memory["id"], {"content": "An edited memory, longer than it was before the edit"})
    m.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: os.path.exists(m.p("action-items", "done", item["id"] + ".txt")), timeout=30)
    wait_for(lambda: "- An edited memory, longer" in read(m.p("vault", "Memories", category + ".md")),
             timeout=30)
    parts = sections(read(m.p("vault", "Action items.md")))
    assert line.replace("- [ ] ", "- [x] ", 1) in items(parts["Done"])
    assert line not in items(parts["Open"])
    # The conversations' listing may come after the action items'.
    wait_for(lambda: line + " · [[" not in read(daily), timeout=30)
    out = subprocess.run(["find", m.p("vault"), *[m.p(j) for j in JSONL], "-type", "f", "-printf", "%s %p\\0"],
                         capture_output=True, timeout=60, check=True).stdout
    for entry in out.split(b"\0")[:-1]:
        size, path = entry.split(b" ", 1)
        with open(path, "rb") as f:
            assert len(f.read()) == int(size), path
    lines = [json.loads(x) for x in read(m.p("memories.jsonl")).split("\n")[:-1]]
    assert next(x for x in lines if x["id"] == memory["id"])["content"].startswith("An edited memory")


def test_memory_categories_of_any_name_give_usable_notes(emulator_factory, mount_factory, tmp_path):
    """Memories/<category>.md for categories whose directory names are long or escaped."""
    emu = emulator_factory(*UNLIMITED, "--conversations", "0", "--memories", "0", "--action-items", "0",
                           profile="backend")
    categories = ["x" * 300, "é" * 130, "a/b", "..", "tab\there", "with space", "", "Work", "work",
                  "Caf\u00e9", "Cafe\u0301", "next\u0085line", "para\u2029graph", "bidi\u202etxt.exe"]
    for i, category in enumerate(categories):
        emu.add("memories", {"id": f"memory-{i}", "content": f"Memory number {i}", "category": category})
    m = mount_factory(emu.url)
    dirs = os.listdir(m.p("memories"))
    assert len(dirs) == len(categories)
    notes = os.listdir(m.p("vault", "Memories"))
    assert all(name.endswith(".md") for name in notes)
    too_long = [f"{len(n.encode())} bytes: {n[:20]}...{n[-24:]}" for n in notes if len(n.encode()) > 255]
    assert not too_long
    # Unique where case and normalisation do not count: a copy to macOS keeps them all.
    assert len({name_key(n) for n in notes}) == len(notes)
    assert [n for n in notes if re.fullmatch(r"(?i)work \([0-9a-f]{8}\)\.md", n)] != []
    assert "with space.md" in notes
    unsafe = {chr(c) for c in range(0x80, 0xA0)} | {"\u2028", "\u2029"} | {chr(c) for c in BIDI_CONTROLS}
    assert not [n for n in notes if set(n) & unsafe]
    assert {"next%C2%85line.md", "para%E2%80%A9graph.md", "bidi%E2%80%AEtxt.exe.md"} <= set(notes)
    heads = {}
    for name in notes:
        path = m.p("vault", "Memories", name)
        text = read(path)
        assert len(text.encode()) == os.stat(path).st_size, name
        heads[text.split("\n", 1)[0]] = text
    # One note per directory, headed with the directory's name, a line per memory in it.
    assert sorted(heads) == sorted("# " + d for d in dirs)
    for d in dirs:
        ids = [f.removesuffix(".txt") for f in sorted(os.listdir(m.p("memories", d)))]
        assert items(heads["# " + d].split("\n")[1:]) == [f"- Memory number {i.split('-')[1]}" for i in ids], d
    backup = tmp_path / "vault"
    out = subprocess.run(["rsync", "-a", m.p("vault") + "/", str(backup) + "/"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr


def test_names_and_days_follow_tz(emulator_factory, mount_factory):
    """Local time (TZ) names the notes and their days, as it does conversations/<day>/."""
    emu = emulator_factory(*UNLIMITED, "--conversations", "0", "--memories", "1", "--action-items", "0")
    for ident, created in (("before-midnight", "2025-06-10T18:29:00Z"), ("after-midnight", "2025-06-10T18:31:00Z"),
                           ("offset-written", "2025-06-11T00:15:00+05:30")):
        emu.add("conversations", conversation(ident, "Around midnight", created))
    m = mount_factory(emu.url, tz="XST-5:30")  # POSIX TZ: UTC+5:30, no tzdata needed
    assert sorted(os.listdir(m.p("conversations"))) == ["2025-06-10", "2025-06-11"]
    names = {i: v[0] for i, v in notes_by_id(m).items()}
    assert names == {"before-midnight": "2025-06-10 2359 Around midnight.md",
                     "after-midnight": "2025-06-11 0001 Around midnight.md",
                     "offset-written": "2025-06-11 0015 Around midnight.md"}
    assert sorted(os.listdir(m.p("vault", "Daily"))) == ["2025-06-10.md", "2025-06-11.md"]
    day = sections(read(m.p("vault", "Daily", "2025-06-11.md")))
    assert items(day["Conversations"]) == ["- 00:01 [[2025-06-11 0001 Around midnight|Around midnight]]",
                                           "- 00:15 [[2025-06-11 0015 Around midnight|Around midnight]]"]


def test_a_note_whose_transcript_fails_is_an_error_never_a_wrong_size(emulator_factory, mount_factory):
    emu = emulator_factory(*UNLIMITED, "--conversations", "4", "--segments", "3", "--memories", "1",
                           "--action-items", "1")
    data = emu.data()
    m = mount_factory(emu.url)
    names = sorted(os.listdir(m.p("vault", "Conversations")))
    emu.set_faults(error_rate=1.0)
    note = m.p("vault", "Conversations", names[0])
    with pytest.raises(OSError) as e:
        os.stat(note)
    assert e.value.errno in (errno.EIO, errno.EAGAIN)
    emu.clear_faults()

    def consistent():
        try:
            size = os.stat(note).st_size
            with open(note, "rb") as f:
                return len(f.read()) == size
        except OSError:
            return False

    wait_for(consistent, timeout=30)
    fm, body = split_note(read(note))
    c = next(c for c in data["conversations"] if c["id"] == fm["id"])
    assert body.endswith("\n## Transcript\n\n" + reference.render_transcript(c))


def test_hostile_ids_in_the_views(emulator_factory, mount_factory):
    """Ids with /, NUL, control bytes, . and .., 300 bytes, duplicated: each usable id once in
    each .jsonl and in one note, with its id in the front matter."""
    emu = emulator_factory(*UNLIMITED, "--hostile-ids", "--conversations", "20", "--segments", "2",
                           "--memories", "10", "--action-items", "10")
    data = emu.data()
    m = mount_factory(emu.url)
    for name, kind in JSONL_KINDS:
        with open(m.p(name), "rb") as f:
            raw = f.read()
        assert len(raw) == os.stat(m.p(name)).st_size, name
        ids = [object_id(json.loads(line)) for line in raw.split(b"\n")[:-1]]
        assert ids == [object_id(x) for x in usable(data[kind])], name
    by_id = notes_by_id(m)
    convs = listed_conversations(data)
    assert any("\0" in c["id"] or "/" in c["id"] for c in data["conversations"])
    assert set(by_id) == {object_id(c) for c in convs}
    for name in os.listdir(m.p("vault", "Conversations")):
        check_safe(name)
    for c in convs:
        check_front_matter(by_id[object_id(c)][1], c)
