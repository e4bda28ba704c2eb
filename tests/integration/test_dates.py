"""Dates the API cannot be asked about: year 1 (a common "zero time"
default) and a year past 9999. One such conversation costs at most its own
transcript, never its neighbours', and its day directory has a four-digit
year."""

import errno
import json
import os
import subprocess
import time

import pytest

from emulator import UNLIMITED
from fsutil import read
from mount import run_omifs

ODD = {
    "zero-time": "0001-01-01T00:00:00Z",
    "far-future": "10000-01-01T00:00:00Z",
}


def add_odd_conversations(emu):
    for id, created_at in ODD.items():
        emu.add("conversations", {
            "id": id, "created_at": created_at, "structured": {"title": id},
            "transcript_segments": [{"id": "s1", "text": "said on an odd day", "speaker_id": 0,
                                     "start": 0.0, "end": 1.0}],
        })


@pytest.mark.parametrize("profile", ["documented", "backend"])
def test_odd_dates_cost_only_their_own_transcript(profile, emulator_factory, mount_factory):
    emu = emulator_factory(*UNLIMITED, profile=profile)
    add_odd_conversations(emu)
    m = mount_factory(emu.url, "retries=1", "transcript_batch=10")
    days = os.listdir(m.p("conversations"))
    assert all(day == "undated" or (len(day) == 10 and day[4] == "-") for day in days), days
    assert "0001-01-01" in days
    # Every ordinary transcript reads, in the order ls gives them, so
    # that each odd conversation shares read-ahead batches with others.
    unread = []
    for day in sorted(days):
        for conv in sorted(os.listdir(m.p("conversations", day))):
            path = m.p("conversations", day, conv, "transcript.txt")
            try:
                read(path)
            except OSError as e:
                assert e.errno == errno.EIO, e
                unread.append(conv)
    # The zero-time conversation is asked for by its own second; the far
    # one has no date a request can name: the backend's single GET reads
    # it, the documented API has no way to.
    assert unread == ([] if profile == "backend" else ["far-future"]), m.log()
    assert "said on an odd day" in read(m.p("conversations", "0001-01-01", "zero-time", "transcript.txt"))


@pytest.mark.parametrize("profile", ["documented", "backend"])
def test_sync_completes_past_odd_dates(profile, emulator_factory, tmp_path):
    emu = emulator_factory(*UNLIMITED, profile=profile)
    add_odd_conversations(emu)
    r = run_omifs("sync", "-o", f"url={emu.url},api_profile={profile},transcript_batch=10",
                  cache_home=str(tmp_path), timeout=120)
    assert r.returncode == 0, r.stderr
    assert "everything is cached" in r.stderr


def test_a_refused_batch_falls_back_to_the_wanted_transcript(emulator_factory, mount_factory):
    emu = emulator_factory(*UNLIMITED)
    m = mount_factory(emu.url, "retries=1", "transcript_batch=10")
    day = sorted(os.listdir(m.p("conversations")))[-1]
    conv = sorted(os.listdir(m.p("conversations", day)))[0]
    # The read-ahead batch is answered 400, as a date the server cannot
    # parse would be: the wanted transcript is then asked for alone.
    emu.set_faults(fail_next=1, error_status=400, paths="/user/conversations")
    expected = next(c for c in emu.data()["conversations"] if c["id"] == conv)
    text = read(m.p("conversations", day, conv, "transcript.txt"))
    assert emu.faults()["fail_next"] == 0, "the batch was never refused"
    for segment in expected.get("transcript_segments") or []:
        assert segment["text"] in text


def add_undated(emu, id):
    """A conversation with no date, so its transcript comes by the backend's
    single GET; sorted after every dated one, ids in order."""
    emu.add("conversations", {
        "id": id, "structured": {"title": id},
        "created_at": None, "started_at": None, "finished_at": None,
        "transcript_segments": [{"id": "s1", "text": f"said in {id}", "speaker_id": 0,
                                 "start": 0.0, "end": 1.0}],
    })


def test_a_transcript_refused_alone_never_holds_up_the_others(emulator_factory, mount_factory):
    """The server answers 404 for one conversation's transcript: that file
    fails, and waits its own pause before it is asked again, while every
    other transcript still reads at once."""
    emu = emulator_factory(*UNLIMITED, profile="backend")
    add_undated(emu, "gone-by-id")
    emu.set_faults(error_rate=1.0, error_status=404, paths="/user/conversations/gone-by-id")
    m = mount_factory(emu.url, "retries=0", "transcript_batch=5")
    broken = m.p("conversations", "undated", "gone-by-id", "transcript.txt")
    with pytest.raises(OSError) as e:
        read(broken)
    assert e.value.errno == errno.EIO
    asked = emu.stats()["by_status"].get("404", 0)
    assert asked == 1, emu.stats()
    days = sorted(d for d in os.listdir(m.p("conversations")) if d != "undated")
    for day in (days[0], days[-1]):
        conv = sorted(os.listdir(m.p("conversations", day)))[0]
        assert read(m.p("conversations", day, conv, "transcript.txt"))
    # Asked again only after its own pause, not at every read.
    with pytest.raises(OSError):
        read(broken)
    assert emu.stats()["by_status"].get("404", 0) == asked
    assert "gone-by-id" in m.log()
    with open(m.p(".omifs", "status.json")) as f:
        transcripts = json.load(f)["transcripts"]
    assert transcripts["refused_alone"] == 1 and transcripts["error"] is None, transcripts
    # omifs refresh forgives it; once the server serves it, it reads.
    emu.clear_faults()
    r = run_omifs("refresh", "--wait", m.path, key=None, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "said in gone-by-id" in read(broken)
    with open(m.p(".omifs", "status.json")) as f:
        assert json.load(f)["transcripts"]["refused_alone"] == 0


def test_sync_passes_over_a_transcript_refused_alone(emulator_factory, tmp_path):
    """One conversation's transcript answered 404 used to stop omifs sync
    there, for good: every transcript after it was never fetched."""
    emu = emulator_factory(*UNLIMITED, profile="backend")
    opts = ["-o", f"url={emu.url},api_profile=backend,transcript_batch=10,retries=0,refresh=1"]
    r = run_omifs("sync", *opts, cache_home=str(tmp_path), timeout=120)
    assert r.returncode == 0, r.stderr
    # New since: listed plain, then fetched one by one (they have no date).
    add_undated(emu, "a-gone-by-id")
    add_undated(emu, "b-fine")
    emu.set_faults(error_rate=1.0, error_status=404, paths="/user/conversations/a-gone-by-id")
    time.sleep(1.1)
    r = run_omifs("sync", "--json", *opts, cache_home=str(tmp_path), timeout=120)
    assert r.returncode == 3, r.stderr
    got = json.loads(r.stdout)
    assert got["result"] == "failed" and got["transcripts_failed"] == 1, got
    assert got["transcripts"] == got["conversations"] - 1, got
    assert "a-gone-by-id" in r.stderr and "1 transcript was refused" in r.stderr

    emu.clear_faults()
    r = run_omifs("sync", "--json", *opts, cache_home=str(tmp_path), timeout=120)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["transcripts_failed"] == 0 and got["transcripts"] == got["conversations"], got
