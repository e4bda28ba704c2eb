"""Search on real text (issue 24): an account whose transcripts, overviews,
memories and action items are real English sentences
(scripts/gather-corpus), searched for words of every frequency, each
result set checked against the items whose text, as the mount shows it,
holds the word."""

import json
import os
import re
import subprocess
import sys
from collections import Counter

import pytest

from emulator import UNLIMITED
from mount import REPO, run_omifs

WORD = re.compile(r"[^\W_]+")


def tokens(text):
    return set(WORD.findall(text.lower()))


def conversation_text(obj):
    """What the index holds of a conversation: title, overview, action
    items, events, and each segment's text and speaker."""
    s = obj.get("structured") or {}
    parts = [s.get("title") or "", s.get("overview") or ""]
    parts += [a.get("description") or "" for a in s.get("action_items") or []]
    for e in s.get("events") or []:
        parts += [e.get("title") or "", e.get("description") or ""]
    for seg in obj.get("transcript_segments") or []:
        parts.append(seg.get("text") or "")
    return " ".join(parts)


@pytest.fixture
def real_account(emulator_factory, mount_factory, tmp_path):
    corpus = tmp_path / "corpus.txt"
    subprocess.run([sys.executable, str(REPO / "scripts" / "gather-corpus"), str(corpus)],
                   check=True, timeout=120, capture_output=True)
    emu = emulator_factory(*UNLIMITED, "--corpus", str(corpus), "--conversations", "150",
                           "--memories", "100", "--action-items", "40", "--segments", "12")
    m = mount_factory(emu.url)
    cache_home = os.path.join(m.dir, "cache")
    r = run_omifs("sync", "-q", "-o", f"url={emu.url}", cache_home=cache_home, timeout=120)
    assert r.returncode == 0, r
    return emu, m, cache_home


def texts_in_mount(m):
    """id -> the indexed text of every item, read from the mount."""
    out = {}
    for root, _, files in os.walk(m.p("conversations")):
        if "conversation.json" in files:
            with open(os.path.join(root, "conversation.json"), encoding="utf-8") as f:
                obj = json.load(f)
            out[obj["id"]] = conversation_text(obj)
    for top in ("memories", "action-items"):
        for root, _, files in os.walk(m.p(top)):
            for name in files:
                with open(os.path.join(root, name), encoding="utf-8") as f:
                    out[name.removesuffix(".txt")] = f.read()
    return out


def test_words_of_every_frequency_find_exactly_the_items_that_hold_them(real_account):
    emu, m, cache_home = real_account
    texts = texts_in_mount(m)
    holding = Counter(w for text in texts.values() for w in tokens(text))
    # Plain words, rare to common, the same every run.
    plain = sorted(w for w, n in holding.items() if w.isascii() and w.isalpha() and len(w) > 4)
    chosen = [w for w in plain if 1 <= holding[w] <= 3][:4]
    chosen += [w for w in plain if 10 <= holding[w] <= 30][:4]
    chosen += [w for w, _ in holding.most_common() if w in plain][:3]
    assert len(chosen) == 11, chosen
    wrong = []
    for word in chosen:
        want = {i for i, text in texts.items() if word in tokens(text)}
        r = run_omifs("search", "--json", "--limit", "0", word, cache_home=cache_home, key=None)
        assert r.returncode == 0, r
        out = json.loads(r.stdout)
        got = {x["id"] for x in out["results"]}
        if got != want or out["total"] != len(want):
            wrong.append((word, len(got), len(want), sorted(got ^ want)[:3]))
    assert not wrong, wrong


def test_the_first_few_results_are_those_of_all_in_the_same_order(real_account):
    """A search for the first few ranks only the matches that may be
    among them (issue 24): they must be the first of the whole ranking,
    with the same scores and snippets, for words common and not."""
    emu, m, cache_home = real_account
    holding = Counter(w for text in texts_in_mount(m).values() for w in tokens(text))
    common = [w for w, _ in holding.most_common() if w.isascii() and w.isalpha() and len(w) > 3]
    queries = common[:3] + ["%s OR %s" % (common[3], common[4]), '"%s"' % common[5],
                            common[6][:3] + "*", "%s %s" % (common[0], common[7])]
    compared = 0
    for query in queries:
        r = run_omifs("search", "--json", "--limit", "0", query, cache_home=cache_home, key=None)
        assert r.returncode in (0, 1), r
        every = json.loads(r.stdout)["results"]
        for limit in (1, 5, 20):
            r = run_omifs("search", "--json", "--limit", str(limit), query, cache_home=cache_home,
                          key=None)
            first = json.loads(r.stdout)["results"]
            assert [(x["id"], x["score"], x["snippet"]) for x in first] == \
                [(x["id"], x["score"], x["snippet"]) for x in every[:limit]], (query, limit)
            compared += len(first)
    assert compared > 100, compared
