"""The conversations planted on purpose at fixed positions: conversation i
of the Generator's list is made case CASES[i] (every case is planted when
there are at least len(CASES) == 19 conversations), and says so in
_hard_case.  Each case is a function (gen, c) that changes conversation c,
drawing from gen's random numbers in a fixed order: the order of CASES is
part of the seeded data."""

import math
from datetime import datetime, timedelta

from .common import UTC, fmt_ts, parse_datetime
from .vocabulary import MULTILINGUAL, UNKNOWN_CATEGORY, UNKNOWN_SOURCE


def plant(gen, convs):
    """Make convs[i] case CASES[i], as far as there are conversations."""
    for i, fn in enumerate(CASES):
        if i < len(convs):
            fn(gen, convs[i])
            convs[i].setdefault("_hard_case", fn.__name__)


def same_second(gen):
    """The second that four conversations share, 30% of the span from the end."""
    return (gen.end - (gen.end - gen.start) * 0.3).replace(microsecond=0)


def middle_day(gen):
    """The day, half the span from the end (never the last), that one
    conversation ends late in the evening and another begins after midnight."""
    day = (gen.end - (gen.end - gen.start) * 0.5).date()
    if day >= gen.end.date():
        day = gen.end.date() - timedelta(days=1)
    return day


def multilingual(gen, c):
    c["language"] = "multi"
    c["structured"]["title"] = "会議 📅 שלום مرحبا 🎉"
    c["structured"]["overview"] = " ".join(MULTILINGUAL)
    c["structured"]["emoji"] = "👨‍👩‍👧‍👦"
    c["transcript_segments"] = gen.segments(len(MULTILINGUAL) * 2, ["You", "Noa", "Kenji"],
                                            extra_texts=MULTILINGUAL)


def slash_newline_title(gen, c):
    c["structured"]["title"] = "Q3 plan / budget review\nfollow-up: A/B tests"
    c["structured"]["overview"] = "Paths like /etc/passwd and ../../escape are just text.\nSecond line."


def long_line(gen, c):
    segs = c["transcript_segments"] or gen.segments(3, ["You", "Sam"])
    segs[len(segs) // 2]["text"] = gen.long_line()
    segs[0]["text"] = "A segment\nwith an embedded newline\tand a tab."
    c["transcript_segments"] = segs


def long_transcript(gen, c):
    c["transcript_segments"] = gen.segments(2000 + gen.rng.randint(0, 150), ["You", "Alex", "Priya"])
    created = parse_datetime(c["created_at"])
    finished = created + timedelta(seconds=math.ceil(c["transcript_segments"][-1]["end"]))
    c["finished_at"] = fmt_ts(finished, "Z.us")


def null_times(gen, c):
    c["started_at"] = None
    c["finished_at"] = None


def unknown_category_source(gen, c):
    c["structured"]["category"] = UNKNOWN_CATEGORY
    c["source"] = UNKNOWN_SOURCE


def empty_transcript(gen, c):
    c["transcript_segments"] = []


def segments_without_ids(gen, c):
    segs = c["transcript_segments"] or gen.segments(4, ["You"])
    for s in segs:
        s.pop("id", None)
    c["transcript_segments"] = segs


def same_second_a(gen, c):
    gen.retime(c, same_second(gen), "Z")


def same_second_b(gen, c):
    gen.retime(c, same_second(gen), "Z")


def same_second_c(gen, c):
    gen.retime(c, same_second(gen).replace(microsecond=400000), "+00:00.us")


def same_second_d(gen, c):
    gen.retime(c, same_second(gen).replace(microsecond=750000), "+05:30.ms")


def locked(gen, c):
    c["_locked"] = True
    c["structured"]["title"] = "Locked conversation (needs a paid plan)"


def discarded(gen, c):
    c["_discarded"] = True
    c["structured"]["title"] = "Discarded conversation (never listed)"


def late_evening(gen, c):
    day = middle_day(gen)
    gen.retime(c, datetime(day.year, day.month, day.day, 23, 30, tzinfo=UTC), "Z")


def early_morning(gen, c):
    day = middle_day(gen)
    gen.retime(c, datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1, minutes=30), "Z")


def with_events(gen, c):
    created = parse_datetime(c["created_at"])
    c["structured"]["events"] = [{
        "title": "Dentist / check-up",
        "description": "Bring the insurance card",
        "start": fmt_ts((created + timedelta(days=3)).replace(microsecond=0), "Z"),
        "duration": 45,
        "created": False,
    }, {
        "title": "Team offsite 🏕️",
        "description": "Two days, details TBD",
        "start": fmt_ts((created + timedelta(days=10)).replace(microsecond=0), "+00:00"),
        "duration": 960,
        "created": True,
    }]


def without_events(gen, c):
    c["structured"]["events"] = []


def negative_offset(gen, c):
    gen.retime(c, parse_datetime(c["created_at"]), "-08:00.ms")
    c["source"] = "unknown"


CASES = [
    multilingual,
    slash_newline_title,
    long_line,
    long_transcript,
    null_times,
    unknown_category_source,
    empty_transcript,
    segments_without_ids,
    same_second_a,
    same_second_b,
    same_second_c,
    same_second_d,
    locked,
    discarded,
    late_evening,
    early_morning,
    with_events,
    without_events,
    negative_offset,
]
