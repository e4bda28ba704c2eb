"""The deterministic dataset: the Generator (same seed and options, same
data; its word lists are in vocabulary, the conversations planted on
purpose in hard_cases), and load_dataset, which generates the data or
reads it from --data."""

import hashlib
import json
import math
import random
from datetime import timedelta

from . import hard_cases
from .common import END_OF_DATA, TS_STYLES, fmt_ts, parse_datetime, public
from .vocabulary import (COMMON_CONV_CATEGORIES, CONV_CATEGORIES, EMOJIS, FOLDERS, HOSTILE_IDS, LANGUAGES,
                         MEM_CATEGORIES, MULTILINGUAL, PEOPLE, SOURCES, TOPICS, UNKNOWN_CATEGORY, WORDS)


class Generator:
    """Builds the dataset from a seed.  Same seed + options -> same data."""

    def __init__(self, seed, n_conversations, n_memories, n_action_items,
                 mean_segments, days, hostile_ids, corpus=None, n_goals=5, memory_categories=0):
        self.rng = random.Random(seed)
        # The app's categories, or as many made-up ones (a heavy account's
        # directories of memories); 0 keeps every seed's data as it was.
        self.mem_categories = (["topic-%05d" % i for i in range(memory_categories)]
                               if memory_categories > 0 else MEM_CATEGORIES)
        self.seed = seed
        self.n_goals = max(0, n_goals)
        self.corpus = corpus            # real sentences, or None: the word list
        self.n_conv = max(0, n_conversations)
        self.n_mem = max(0, n_memories)
        self.n_ai = max(0, n_action_items)
        self.mean_segments = max(0, mean_segments)
        self.days = max(1, days)
        self.hostile = hostile_ids
        self.end = END_OF_DATA
        self.start = self.end - timedelta(days=self.days)

    # -- small pieces ---------------------------------------------------------
    def uid(self):
        h = "%032x" % self.rng.getrandbits(128)
        variant = "89ab"[int(h[16], 16) & 3]
        return "%s-%s-4%s-%s%s-%s" % (h[0:8], h[8:12], h[13:16], variant, h[17:20], h[20:32])

    def sentence(self, lo=4, hi=14):
        rng = self.rng
        if self.corpus:
            return rng.choice(self.corpus)
        s = " ".join(rng.choices(WORDS, k=rng.randint(lo, hi)))
        return s[0].upper() + s[1:] + rng.choice(".....?!")

    def when(self, whole_seconds=False):
        span = int((self.end - self.start).total_seconds())
        dt = self.start + timedelta(seconds=self.rng.randint(0, span))
        if not whole_seconds:
            dt = dt.replace(microsecond=self.rng.randint(0, 999999))
        return dt

    def style(self):
        return self.rng.choice(TS_STYLES)

    def long_line(self, min_chars=12000):
        parts = []
        n = 0
        while n < min_chars:
            w = self.rng.choice(WORDS)
            parts.append(w)
            n += len(w) + 1
        return "A very long line without a newline: " + " ".join(parts)

    # -- transcripts ----------------------------------------------------------
    def segments(self, count, speakers, no_ids=False, extra_texts=()):
        rng = self.rng
        segs = []
        t = round(rng.random() * 3, 2)
        extra = list(extra_texts)
        for i in range(count):
            if extra and (i % 3 == 1 or i >= count - len(extra)):
                text = extra.pop(0)
            else:
                text = self.sentence(3, 18)
            dur = round(0.4 + len(text) / 15.0 + rng.random(), 2)
            sid = rng.randrange(len(speakers))
            seg = {}
            if not no_ids and rng.random() > 0.1:
                seg["id"] = self.uid()
            seg["text"] = text
            seg["speaker_id"] = sid
            seg["speaker_name"] = speakers[sid]
            seg["start"] = t
            seg["end"] = round(t + dur, 2)
            segs.append(seg)
            t = round(t + dur + rng.random() * 1.5, 2)
        return segs

    def speakers(self):
        rng = self.rng
        n = rng.randint(1, 4)
        names = ["You"] + rng.sample(PEOPLE, n - 1) if n > 1 else ["You"]
        if n > 2 and rng.random() < 0.3:
            names[-1] = None          # an unidentified speaker
        return names

    # -- conversations --------------------------------------------------------
    def conversation(self, created=None, style=None, n_segments=None):
        rng = self.rng
        created = created or self.when(whole_seconds=rng.random() < 0.4)
        style = style or self.style()
        if n_segments is None:
            m = self.mean_segments
            n_segments = rng.randint(m - m // 2, m + m // 2) if m > 0 else 0
        segs = self.segments(n_segments, self.speakers())
        length = segs[-1]["end"] if segs else rng.randint(20, 300)
        finished = created + timedelta(seconds=math.ceil(length) + rng.randint(1, 30))
        topic = rng.choice(TOPICS)
        events = []
        if rng.random() < 0.35:
            for _ in range(rng.randint(1, 3)):
                start = created + timedelta(days=rng.randint(0, 14), hours=rng.randint(0, 10))
                events.append({
                    "title": rng.choice(TOPICS) + " follow-up",
                    "description": self.sentence(),
                    "start": fmt_ts(start.replace(microsecond=0), rng.choice(["Z", "+00:00"])),
                    "duration": rng.choice([15, 30, 45, 60, 90]),
                    "created": rng.random() < 0.5,
                })
        geo = None
        if rng.random() < 0.5:
            geo = {
                "latitude": round(rng.uniform(-60, 70), 6),
                "longitude": round(rng.uniform(-180, 180), 6),
                "address": "%d %s Street, Springfield" % (rng.randint(1, 999), rng.choice(PEOPLE)),
                "google_place_id": None if rng.random() < 0.5 else "ChIJ" + "%016x" % rng.getrandbits(64),
                "location_type": None,
            }
        folder = rng.choice([None, None] + [f[0] for f in FOLDERS])
        return {
            "id": self.uid(),
            "created_at": fmt_ts(created, style),
            "started_at": fmt_ts(created, style),
            "finished_at": fmt_ts(finished, style),
            "language": rng.choice(LANGUAGES),
            "source": rng.choice(SOURCES),
            "structured": {
                "title": "%s: %s" % (topic, " ".join(rng.choices(WORDS, k=rng.randint(1, 4)))),
                "overview": " ".join(self.sentence() for _ in range(rng.randint(1, 3))),
                "emoji": rng.choice(EMOJIS),
                "category": rng.choice(COMMON_CONV_CATEGORIES if rng.random() < 0.8 else CONV_CATEGORIES),
                "action_items": [],
                "events": events,
            },
            "transcript_segments": segs,
            "geolocation": geo,
            "folder_id": None if folder is None else "folder-" + hashlib.sha1(folder.encode()).hexdigest()[:12],
            "folder_name": folder,
        }

    @staticmethod
    def retime(c, dt, style):
        """Move a conversation to dt, keeping its length; started_at = created_at."""
        try:
            length = parse_datetime(c["finished_at"]) - parse_datetime(c["started_at"])
        except (TypeError, ValueError):
            length = timedelta(minutes=10)
        c["created_at"] = fmt_ts(dt, style)
        c["started_at"] = fmt_ts(dt, style)
        c["finished_at"] = fmt_ts(dt + length, style)

    def conversations(self):
        convs = [self.conversation() for _ in range(self.n_conv)]
        # The hard cases, planted on purpose at fixed positions.
        hard_cases.plant(self, convs)
        if self.hostile and convs:
            for hid in HOSTILE_IDS:
                c = self.conversation()
                c["id"] = hid
                c["structured"]["title"] = "Hostile id %r" % hid[:20]
                convs.append(c)
            dup = self.conversation()
            dup["id"] = convs[0]["id"]
            dup["structured"]["title"] = "Duplicate of an existing id"
            convs.append(dup)
        return convs

    # -- memories -------------------------------------------------------------
    def memories(self):
        rng = self.rng
        mems = []
        for _ in range(self.n_mem):
            created = self.when(whole_seconds=rng.random() < 0.5)
            updated = None
            if rng.random() < 0.3:
                updated = fmt_ts(created + timedelta(hours=rng.randint(1, 200)), self.style())
            mems.append({
                "id": self.uid(),
                "content": self.sentence(5, 30),
                "category": rng.choice(self.mem_categories),
                "visibility": rng.choice(["private", "private", "public"]),
                "tags": rng.sample(WORDS, rng.randint(0, 3)),
                "created_at": fmt_ts(created, self.style()),
                "updated_at": updated,
                "manually_added": rng.random() < 0.2,
                "reviewed": rng.random() < 0.5,
                "edited": rng.random() < 0.2,
                "user_review": rng.choice([None, None, True, False]),
                "scoring": rng.randint(0, 9999),
            })
        hard = [
            lambda m: m.update(content=" ".join(MULTILINGUAL)),
            lambda m: m.update(content=self.long_line()),
            lambda m: m.update(category=UNKNOWN_CATEGORY, content="Unknown category memory 🌱"),
            lambda m: m.update(content="Line one / with slash\nline two\ttabbed\n"),
            lambda m: m.update(content="", updated_at=None, user_review=None),
            lambda m: m.update(created_at=fmt_ts(parse_datetime(m["created_at"]), "+05:30")),
            lambda m: m.update(created_at=fmt_ts(parse_datetime(m["created_at"]), "-08:00.ms")),
            lambda m: m.update(scoring=mems[0]["scoring"] if mems else 0),   # a score tie
        ]
        for i, fn in enumerate(hard):
            if i < len(mems):
                fn(mems[i])
        if self.hostile and mems:
            for hid in HOSTILE_IDS:
                m = dict(mems[-1], id=hid, content="Hostile id memory")
                m["tags"] = list(m["tags"])
                mems.append(m)
            mems.append(dict(mems[1], id=mems[0]["id"], content="Duplicate id memory", tags=[]))
        return mems

    # -- action items ---------------------------------------------------------
    def action_item(self, conv=None):
        rng = self.rng
        if conv is not None:
            base = parse_datetime(conv["created_at"])
            created = base + timedelta(seconds=rng.randint(60, 3600), microseconds=rng.randint(0, 999999))
        else:
            created = self.when(whole_seconds=rng.random() < 0.5)
        style = self.style()
        completed = rng.random() < 0.35
        updated = created + timedelta(minutes=rng.randint(0, 3000))
        due = None
        if rng.random() < 0.6:
            due = (created + timedelta(days=rng.randint(1, 14))).replace(hour=rng.choice([0, 9, 17]),
                                                                         minute=0, second=0, microsecond=0)
        return {
            "id": self.uid(),
            "description": self.sentence(3, 10),
            "completed": completed,
            "created_at": fmt_ts(created, style),
            "updated_at": fmt_ts(updated, style),
            "due_at": None if due is None else fmt_ts(due, rng.choice(["Z", "+00:00", "-08:00.ms"])),
            "completed_at": fmt_ts(updated, style) if completed else None,
            "conversation_id": None if conv is None else conv["id"],
        }

    def action_items(self, convs):
        rng = self.rng
        n = self.n_ai
        items = []
        linkable = [c for c in convs]
        n_standalone = min(n, max(3, n // 4))
        n_linked = n - n_standalone
        for i in range(n_linked):
            conv = linkable[i] if i < min(6, len(linkable)) else (rng.choice(linkable) if linkable else None)
            items.append(self.action_item(conv))
        for _ in range(n_standalone):
            items.append(self.action_item(None))
        hard = [
            lambda a: a.update(description="Call Noa 📞 שלום / مرحبا 你好", due_at=None),
            lambda a: a.update(description="Two lines\nsecond line / slash", due_at=None, completed=False,
                               completed_at=None),
            lambda a: a.update(completed=True, completed_at=a["updated_at"]),
            lambda a: a.update(description=self.long_line(2000)),
        ]
        for i, fn in enumerate(hard):
            if i < len(items):
                fn(items[i])
        if n_linked >= 8:                       # one item whose conversation does not exist
            items[n_linked - 1]["conversation_id"] = self.uid()
        if n_standalone >= 2:                   # standalone items with and without due dates
            items[n_linked]["due_at"] = None
            items[n_linked + 1]["completed"] = False
            items[n_linked + 1]["completed_at"] = None
        if self.hostile and items:
            for hid in HOSTILE_IDS:
                a = self.action_item(None)
                a["id"] = hid
                items.append(a)
            dup = self.action_item(None)
            dup["id"] = items[0]["id"]
            items.append(dup)
        return items

    def generate(self):
        convs = self.conversations()
        mems = self.memories()
        items = self.action_items([c for c in convs if not c["id"] in HOSTILE_IDS])
        for c in convs:
            c["structured"]["action_items"] = embedded_items(items, c["id"])
        return {"conversations": convs, "memories": mems, "action_items": items,
                "goals": self.goals()}

    def goals(self):
        """Goals as the backend keeps them, each with its daily history
        (_history, newest first).  A generator of their own, so that the
        other collections stay what they were before goals came."""
        rng = random.Random(self.seed * 7919 + 1)
        titles = ["Run a marathon", "Read 20 books", "Ship the roadmap", "Meditate daily",
                  "Learn Spanish", "Sleep eight hours", "Call family weekly"]
        out = []
        for i in range(self.n_goals):
            kind = rng.choice(["scale", "numeric", "boolean"])
            target = {"scale": 10.0, "numeric": float(rng.randint(5, 500)), "boolean": 1.0}[kind]
            created = self.start + timedelta(seconds=rng.randint(0, 86400 * 10))
            updated = created + timedelta(days=rng.randint(0, 15), seconds=rng.randint(0, 86399))
            history = []
            for d in range(rng.randint(0, 6)):
                day = (updated - timedelta(days=d)).strftime("%Y-%m-%d")
                history.append({"date": day, "value": round(rng.uniform(0, target), 1),
                                "recorded_at": day + "T12:00:00+00:00"})
            out.append({
                "id": "goal_%012x" % rng.getrandbits(48),
                "title": titles[i % len(titles)] + ("" if i < len(titles) else " %d" % i),
                "goal_type": kind, "target_value": target,
                "current_value": history[0]["value"] if history else 0.0,
                "min_value": 0.0, "max_value": max(target, 10.0),
                "unit": rng.choice([None, "points", "books", "km"]),
                "is_active": i % 4 != 3,
                "created_at": created.isoformat(), "updated_at": updated.isoformat(),
                "_history": history,
            })
        return out


def goal_history(g, days):
    """GET /user/goals/{id}/history?days=N: the newest N days recorded."""
    got = g.get("_history") if isinstance(g.get("_history"), list) else []
    return [public(h) for h in got[:max(0, days)]]


def embedded_items(items, conversation_id):
    """The action items of one conversation as structured.action_items shows them."""
    out = []
    for a in items:
        if isinstance(a, dict) and a.get("conversation_id") == conversation_id:
            out.append({k: v for k, v in a.items() if k not in ("id", "conversation_id")
                        and not (isinstance(k, str) and k.startswith("_"))})
    return out


def load_dataset(opts):
    """The dataset of the command line: --data's file (its conversations,
    memories and action items), or the Generator's, on --corpus's sentences
    if given."""
    if opts.data:
        with open(opts.data, encoding="utf-8") as fh:
            data = json.load(fh)
        if not isinstance(data, dict):
            raise ValueError("dataset must be a JSON object")
        return {k: list(data.get(k) or []) for k in ("conversations", "memories", "action_items")}
    corpus = None
    if opts.corpus:
        with open(opts.corpus, encoding="utf-8") as fh:
            corpus = [line.strip() for line in fh if line.strip()]
        if not corpus:
            raise ValueError("the corpus %s holds no sentence" % opts.corpus)
    gen = Generator(opts.seed, opts.conversations, opts.memories, opts.action_items,
                    opts.segments, opts.days, opts.hostile_ids, corpus, opts.goals,
                    opts.memory_categories)
    return gen.generate()
