"""The mount's search/ directory (issue 14): a name looked up in it is a
query, its directory holds the matches as links into the id tree and a
results.md. Queries read the cache only."""

import errno
import os
import signal
import subprocess
import threading
import time

import pytest

from emulator import UNLIMITED
from fsutil import read, wait_for
from mount import run_omifs

PLANTED = {
    "id": "planted-conversation",
    "created_at": "2025-06-15T12:00:00Z",
    "structured": {"title": "Mortgage call with Sam", "overview": "Rates and the bank",
                   "action_items": [], "events": []},
    "transcript_segments": [
        {"id": "s1", "text": "the quokka sings at midnight", "speaker_id": 1, "start": 61.0,
         "end": 63.0},
    ],
}


@pytest.fixture
def mounted(emulator_factory, mount_factory):
    """A mount whose every transcript has been read, with planted items."""
    emu = emulator_factory(*UNLIMITED)
    emu.add("conversations", PLANTED)
    memory = emu.add("memories", {"content": "Allergic to peanuts at the café", "category": "core"})
    item = emu.add("action-items", {"description": "Renew the passport before the xylophone recital"})
    m = mount_factory(emu.url)
    subprocess.run(["sh", "-c", 'find "$1" -path "$1/search" -prune -o -type f -exec cat {} + '
                    ">/dev/null", "sh", m.path], check=True, timeout=300)
    return emu, m, memory, item


def matches(m, query):
    d = m.p("search", query)
    return sorted(n for n in os.listdir(d) if n != "results.md")


def test_a_planted_phrase_is_found_and_its_link_leads_to_it(mounted):
    emu, m, memory, item = mounted
    emu.reset_stats()
    names = matches(m, "quokka midnight")
    assert len(names) == 1 and names[0].startswith("01 2025-06-15 Mortgage call with Sam")
    link = m.p("search", "quokka midnight", names[0])
    assert os.path.islink(link)
    assert os.readlink(link) == "../../conversations/2025-06-15/planted-conversation"
    assert os.path.realpath(link) == os.path.realpath(m.p("conversations", "2025-06-15",
                                                          "planted-conversation"))
    with open(os.path.join(link, "transcript.txt")) as f:
        assert "quokka sings at midnight" in f.read()
    results = m.p("search", "quokka midnight", "results.md")
    with open(results, "rb") as f:
        text = f.read()
    assert len(text) == os.stat(results).st_size
    assert b"**quokka**" in text and b"conversations/2025-06-15/planted-conversation" in text
    # A memory (with a diacritic folded) and an action item, likewise.
    [mem] = matches(m, "cafe peanuts")
    assert os.readlink(m.p("search", "cafe peanuts", mem)).endswith("/" + memory["id"] + ".txt")
    [todo] = matches(m, "xylophone")
    assert "/action-items/open/" in os.readlink(m.p("search", "xylophone", todo))
    assert emu.stats()["total"] == 0


def test_any_name_is_a_query_raw_fts5_may_be_refused(mounted):
    emu, m, memory, item = mounted
    for query in ('"unbalanced', "NEAR(", "x" * 255, "AND", "*", "don't", "(((", "e-mail"):
        assert matches(m, query) == [], query
    for query in ("fts:(((", "fts:NEAR("):
        try:
            os.listdir(m.p("search", query))
            assert False, f"{query} was not refused"
        except OSError as e:
            assert e.errno == errno.EINVAL, (query, e)
    assert matches(m, "zzznothingmatcheszzz") == []
    assert m.proc.poll() is None


def test_a_deleted_conversation_leaves_the_results_after_a_refresh(mounted):
    emu, m, memory, item = mounted
    assert len(matches(m, "quokka")) == 1
    emu.delete("conversations", "planted-conversation")
    # A deletion takes two complete listings that agree.
    m.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "1 missing from the last listing" in read(m.p(".omifs", "status")), timeout=30)
    m.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: not os.path.exists(m.p("conversations", "2025-06-15",
                                            "planted-conversation")), timeout=30)
    wait_for(lambda: matches(m, "quokka") == [], timeout=30)


def test_results_survive_a_remount_with_no_request(mounted):
    emu, m, memory, item = mounted
    before = matches(m, "quokka midnight")
    m.stop()
    emu.reset_stats()
    m.start()
    assert matches(m, "quokka midnight") == before != []
    with open(m.p("search", "quokka midnight", "results.md"), "rb") as f:
        assert b"quokka" in f.read()
    # The key worked minutes ago: a warm remount asks the server nothing.
    assert emu.stats()["total"] == 0


def test_a_query_the_kernel_still_shows_stays_readable(mounted):
    """Queries past the 32 kept are dropped only once the kernel has
    forgotten them: a results.md it still caches the size of reads whole,
    never ENOENT."""
    emu, m, memory, item = mounted
    first = m.p("search", "quokka", "results.md")
    size = os.stat(first).st_size
    for i in range(40):
        matches(m, f"quokka OR word{i}")
    assert os.stat(first).st_size == size
    with open(first, "rb") as f:
        assert len(f.read()) == size
    assert matches(m, "quokka")


def test_a_heavy_query_holds_back_no_cold_read(emulator_factory, mount_factory):
    """A query of prefixes over 3,000 transcripts ranks for a good part of
    a second; a file never read before, rendered from the cache meanwhile,
    comes back before the query's directory does (it once waited for the
    store's lock the whole query long)."""
    emu = emulator_factory(*UNLIMITED, "--conversations", "3000", "--memories", "10",
                           "--action-items", "10")
    m = mount_factory(emu.url)
    cache_home = os.path.join(m.dir, "cache")
    r = run_omifs("sync", "-q", "-o", f"url={emu.url}", cache_home=cache_home, timeout=300)
    assert r.returncode == 0, r
    days = sorted(os.listdir(m.p("conversations")))
    cold = m.p("conversations", days[-1], sorted(os.listdir(m.p("conversations", days[-1])))[0],
               "transcript.txt")
    heavy = ("(a* OR b* OR c* OR d* OR e* OR f* OR g* OR h* OR i*) "
             "(j* OR k* OR l* OR m* OR n* OR o* OR p* OR r* OR s*) "
             "(t* OR u* OR v* OR w* OR y* OR a* OR e* OR i* OR o*) "
             "(s* OR t* OR m* OR p* OR c* OR d* OR f* OR h* OR l*)")
    done = {}

    def search():
        matches(m, heavy)
        done["search"] = time.monotonic()

    t = threading.Thread(target=search)
    t.start()
    time.sleep(0.1)
    with open(cold, "rb") as f:
        assert f.read()
    done["cat"] = time.monotonic()
    t.join(timeout=60)
    assert not t.is_alive()
    assert done["cat"] < done["search"], done
    assert m.proc.poll() is None
