"""Search as people type (issue 24): a table of typed queries, each with
the planted items it must find, checked through `omifs search --json`
and through `ls search/<query>` in the mount; filters in the query and
as options; honest counts. The account holds the planted items only, so
every expectation is exact."""

import os
import re

import pytest

from emulator import UNLIMITED
from mount import run_omifs

MEMORIES = {
    "email": ("Send the e-mail to Müller-Lüdenscheidt before Friday", "work"),
    "dont": ("I don't think O'Brien's pub opens on Monday", "personal"),
    "rate": ("The mortgage rate is 3.5 percent now", "finance"),
    "meet": ("Meet at 10:30 by the Wi-Fi router", "work"),
    "sale": ("Winter coats are 50% off", "personal"),
    "cpp": ("The C++ build broke again on the server", "work"),
    "q3": ("Q3 numbers look good (urgent!)", "work"),
    "dr": ("Dr. Smith called back about the results", "health"),
    "addr": ("Write to sam@example.com soon", "work"),
    "ticket": ("Ticket #4471-B is still open", "work"),
    "cost": ("The new roof costs $1,200 in total", "finance"),
    "covid": ("A covid-19 test before the flight", "travel"),
    "sao": ("Trip to São Paulo in March", "travel"),
    "cjk": ("明日は東京で会議があります", "work"),
    "arabic": ("مرحبا بالعالم من القاهرة", "personal"),
    "emoji": ("Birthday party 🎉 at the lake", "personal"),
    "mail": ("Mail the rest of the forms later", "personal"),
    "cafe": ("Coffee at the café on Rue Cler", "personal"),
}
ALL_MEMORIES = set(MEMORIES)

CONVERSATION = {
    "id": "conv-budget",
    "created_at": "2025-04-01T12:00:00Z",
    "structured": {"title": "Budget review", "overview": "House and money",
                   "category": "finance"},
    "transcript_segments": [
        {"id": "s1", "text": "we should refinance the house", "speaker_id": 0,
         "start": 0.0, "end": 2.0},
        {"id": "s2", "text": "the dentist moved to Tuesday", "speaker_id": 1,
         "start": 3.0, "end": 5.0},
    ],
}

# (query, the planted keys it finds); "conv" and "todo" are the
# conversation and the action item.
TABLE = [
    ("e-mail", {"email"}),
    ("E-Mail", {"email"}),
    ("Müller-Lüdenscheidt", {"email"}),
    ("muller-ludenscheidt", {"email"}),
    ("don't think", {"dont"}),
    ("O'Brien's", {"dont"}),
    ("3.5 percent", {"rate"}),
    ("3.5", {"rate"}),
    ("10:30", {"meet"}),
    ("Wi-Fi router", {"meet"}),
    ("50%", {"sale"}),
    ("C++ build", {"cpp"}),
    ("Q3?", {"q3"}),
    ("(urgent!)", {"q3"}),
    ("Dr. Smith", {"dr"}),
    ("sam@example.com", {"addr"}),
    ("#4471-B", {"ticket"}),
    ("$1,200", {"cost"}),
    ("covid-19", {"covid"}),
    ("Sao Paulo", {"sao"}),
    ("São Paulo", {"sao"}),
    ("東京", {"cjk"}),
    ("会議", {"cjk"}),
    ("القاهرة", {"arabic"}),
    ("party 🎉", {"emoji"}),
    ("🎉", set()),
    ('"', set()),
    ("(", set()),
    ('"coats are', {"sale"}),
    ('"are 50% off"', {"sale"}),
    ('"off 50%"', set()),
    # "e-mail" is the words e and mail.
    ("mail", {"email", "mail"}),
    ("mail -e-mail", {"mail"}),
    ("mail NOT forms", {"email"}),
    ("cafe", {"cafe"}),
    ("caf*", {"cafe"}),
    ("bui*", {"cpp"}),
    ("smith OR paulo", {"dr", "sao"}),
    ("(smith OR paulo) march", {"sao"}),
    ("smith OR paulo march", {"sao"}),
    ("NEAR(send friday, 10)", {"email"}),
    ("NEAR(send friday, 3)", set()),
    ("NEAR(send friday", {"email"}),
    ("refinance", {"conv"}),
    ("passport ana", {"todo"}),
    ("kind:memory coffee", {"cafe"}),
    ("kind:action-item", {"todo"}),
    ("kind:conversation dentist", {"conv"}),
    ("kind:memory dentist", set()),
    ('speaker:"Speaker 1" dentist', {"conv"}),
    ('speaker:"Speaker 7"', set()),
    ("category:travel", {"covid", "sao"}),
    ("category:finance -roof", {"rate", "conv"}),
    ("category:finance kind:conversation", {"conv"}),
    ("after:2025-03-16 kind:memory", {"emoji", "mail", "cafe"}),
    ("before:2025-03-03", {"email", "dont", "todo"}),
    ("after:2025-03-02 before:2025-03-04", {"dont", "rate"}),
    ("after:soon", set()),
    ("a/b", set()),
]


def memory_day(i):
    return f"2025-03-{i + 1:02d}T12:00:00Z"


@pytest.fixture
def account(emulator_factory, mount_factory):
    """The backend's dialect: its memories carry created_at, which the
    documented API's lack (those are dated when first seen)."""
    emu = emulator_factory(*UNLIMITED, "--conversations", "0", "--memories", "0",
                           "--action-items", "0", "--goals", "0", profile="backend")
    ids = {}
    for i, (key, (text, category)) in enumerate(MEMORIES.items()):
        ids[emu.add("memories", {"content": text, "category": category,
                                 "created_at": memory_day(i)})["id"]] = key
    ids[emu.add("conversations", CONVERSATION)["id"]] = "conv"
    ids[emu.add("action-items", {"description": "Renew the passport for Ana",
                                 "created_at": "2025-02-01T12:00:00Z"})["id"]] = "todo"
    m = mount_factory(emu.url, "api_profile=backend")
    cache_home = os.path.join(m.dir, "cache")
    r = run_omifs("sync", "-q", "-o", f"url={emu.url},api_profile=backend", cache_home=cache_home,
                  timeout=120)
    assert r.returncode == 0, r
    return emu, m, cache_home, ids


def search_json(cache_home, *args):
    r = run_omifs("search", "--json", *args, cache_home=str(cache_home), key=None)
    assert r.returncode in (0, 1), r
    return r.returncode, __import__("json").loads(r.stdout)


def found(ids, results):
    return {ids.get(x["id"], x["id"]) for x in results}


def test_typed_queries_find_what_they_say(account):
    emu, m, cache_home, ids = account
    assert len(TABLE) >= 40
    wrong = []
    for query, want in TABLE:
        code, out = search_json(cache_home, "--limit", "0", query)
        got = found(ids, out["results"])
        if got != want or code != (0 if want else 1) or out["total"] != len(want):
            wrong.append((query, sorted(got), sorted(want), code))
    assert not wrong, wrong


def test_the_same_queries_as_directories(account):
    emu, m, cache_home, ids = account
    by_file = {}
    wrong = []
    for query, want in TABLE:
        if "/" in query:
            continue
        names = [n for n in os.listdir(m.p("search", query)) if n != "results.md"]
        got = set()
        for name in names:
            target = os.readlink(m.p("search", query, name))
            assert os.path.exists(m.p("search", query, name)), (query, target)
            base = os.path.basename(target)
            got.add(ids.get(base.removesuffix(".txt"), base))
        if got != want:
            wrong.append((query, sorted(got), sorted(want)))
        with open(m.p("search", query, "results.md"), encoding="utf-8") as f:
            by_file[query] = f.read()
    assert not wrong, wrong
    assert "No match." in by_file["🎉"]
    assert "2 matches, best first." in by_file["mail"]


def test_a_lone_exclusion_lists_everything_else_newest_first(account):
    emu, m, cache_home, ids = account
    code, out = search_json(cache_home, "--limit", "0", "--", "-mail")
    assert found(ids, out["results"]) == (ALL_MEMORIES - {"email", "mail"}) | {"conv", "todo"}
    dates = [x["date"] for x in out["results"]]
    assert dates == sorted(dates, reverse=True), dates


def test_filters_as_options(account):
    emu, m, cache_home, ids = account
    _, out = search_json(cache_home, "--limit", "0", "--kind", "memory", "--since", "2025-03-17")
    assert found(ids, out["results"]) == {"mail", "cafe"}
    _, out = search_json(cache_home, "--limit", "0", "--until", "2025-03-02", "--kind",
                         "memory,action-item")
    assert found(ids, out["results"]) == {"email", "dont", "todo"}
    _, out = search_json(cache_home, "--speaker", "Speaker 0", "refinance")
    assert found(ids, out["results"]) == {"conv"}
    # Options and the query's filters add up.
    _, out = search_json(cache_home, "--kind", "memory", "category:travel", "covid")
    assert found(ids, out["results"]) == {"covid"}
    for args, says in ((["--kind", "memo"], "--kind takes memory, conversation, action-item or goal"),
                       (["--since", "2025-13-01"], "--since takes a day"),
                       (["--until", "yesterday"], "--until takes a day")):
        r = run_omifs("search", *args, "x", cache_home=str(cache_home), key=None)
        assert r.returncode == 2 and says in r.stderr, r
    r = run_omifs("search", cache_home=str(cache_home), key=None)
    assert r.returncode == 2 and "give a QUERY, or a filter" in r.stderr, r


def test_counts_say_how_many_matched_in_all(account):
    emu, m, cache_home, ids = account
    r = run_omifs("search", "--limit", "3", "kind:memory", cache_home=str(cache_home), key=None)
    assert r.returncode == 0 and len(r.stdout.strip().splitlines()) == 6, r
    n = len(MEMORIES)
    assert re.match(rf"showing 3 of {n} matches \(--limit 0 for all\); ", r.stderr), r.stderr
    code, out = search_json(cache_home, "--limit", "3", "kind:memory")
    assert out["total"] == n and len(out["results"]) == 3 and out["partial"] is False
    code, out = search_json(cache_home, "--limit", "0", "kind:memory")
    assert len(out["results"]) == n
    r = run_omifs("search", "--limit", "0", "kind:memory", cache_home=str(cache_home), key=None)
    assert r.stderr.startswith(f"{n} matches; "), r.stderr
    # A filter alone lists the newest first.
    assert [ids[x["id"]] for x in out["results"]][:3] == ["cafe", "mail", "emoji"]
