"""A heavy account at the backend's hourly limits, with scaled hours.

800 conversations in pages of 10 take 81 listing requests; the backend
allows 60 an hour. The listing must keep what it has when the hour's
budget is spent, show it, and continue where it stopped, in this mount
or the next: never start over.
"""

import json
import os
import re
import time
from datetime import datetime, timedelta

import reference
from emulator import TEST_KEY
from fsutil import read, wait_for
from mount import interrupt_omifs

CONVERSATIONS = 800
PAGE = 10
SCALE = 0.002  # an hour lasts 7.2 s
MOUNT_OPTIONS = ("api_profile=backend", f"rate_window_scale={SCALE}", f"page_size={PAGE}",
                 "budget_wait=1", "refresh=1", "full_refresh=3600", "ttl=1")
FLOOR = CONVERSATIONS // PAGE + 1  # pages, and the empty one that ends the listing


def heavy_emulator(emulator_factory, log_path):
    return emulator_factory("--conversations", CONVERSATIONS, "--segments", 1,
                            "--window-scale", SCALE, "--log", str(log_path), profile="backend")


def usable_conversations(emu):
    return len(list(reference.usable(emu.data()["conversations"])))


def listed_conversations(m):
    return sum(len(os.listdir(m.p("conversations", day))) for day in os.listdir(m.p("conversations")))


def full_listing_requests(log_path):
    """The requests of full listings of conversations, in the order sent:
    neither looking for new items (start_date) nor fetching transcripts."""
    with open(log_path) as f:
        requests = [json.loads(line) for line in f]
    return [r for r in requests if r["path"].endswith("/user/conversations")
            and "start_date" not in (r["query"] or "") and "include_transcript" not in (r["query"] or "")]


def listing_pages_served(log_path):
    return sum(1 for r in full_listing_requests(log_path) if r["status"] == 200)


def complete(m):
    return re.search(r"conversations +\d+ items, listed completely", read(m.p(".omifs", "status")))


def test_a_listing_past_the_hour_shows_what_it_has_and_continues(emulator_factory,
                                                                 mount_factory, tmp_path):
    log_path = tmp_path / "requests.jsonl"
    emu = heavy_emulator(emulator_factory, log_path)
    m = mount_factory(emu.url, *MOUNT_OPTIONS)
    # The hour's budget runs out before the end: ls shows what is listed.
    first = listed_conversations(m)
    assert 0 < first < usable_conversations(emu)
    status = read(m.p(".omifs", "status"))
    assert re.search(r"conversations .*\d+ listed so far, the listing continues at", status), status
    wait_for(lambda: complete(m), timeout=60)
    wait_for(lambda: listed_conversations(m) == usable_conversations(emu), timeout=5)
    # Continued, never started over; and never a 429.
    assert listing_pages_served(log_path) <= FLOOR + 3, emu.stats()["by_endpoint"]
    assert emu.stats()["by_status"].get("429", 0) == 0, emu.stats()


def test_a_listing_continues_across_a_remount(emulator_factory, mount_factory, tmp_path):
    log_path = tmp_path / "requests.jsonl"
    emu = heavy_emulator(emulator_factory, log_path)
    cache = f"cache_dir={tmp_path / 'cache'}"
    m = mount_factory(emu.url, *MOUNT_OPTIONS, cache)
    shown = listed_conversations(m)
    assert 0 < shown < usable_conversations(emu)
    m.cleanup()
    m = mount_factory(emu.url, *MOUNT_OPTIONS, cache)
    # What the first mount listed shows at once, before any request.
    assert listed_conversations(m) >= shown
    wait_for(lambda: complete(m), timeout=60)
    wait_for(lambda: listed_conversations(m) == usable_conversations(emu), timeout=5)
    # The new mount's budget starts from the old one's requests, as the
    # server counts them: it waits for the window, never meets a 429, and
    # lists no page twice.
    assert listing_pages_served(log_path) <= FLOOR + 3, emu.stats()["by_endpoint"]
    assert emu.stats()["by_status"].get("429", 0) == 0, emu.stats()


def full_listing_pages(log_path):
    return [r["t"] for r in full_listing_requests(log_path)]


def most_in_a_window(times, window):
    return max((sum(1 for u in times if t <= u < t + window) for t in times), default=0)


def test_full_listings_take_half_the_hour_and_new_conversations_still_come(
        emulator_factory, mount_factory, tmp_path):
    log_path = tmp_path / "requests.jsonl"
    emu = emulator_factory("--conversations", CONVERSATIONS, "--segments", 1,
                           "--window-scale", SCALE, "--log", str(log_path), profile="backend")
    m = mount_factory(emu.url, *MOUNT_OPTIONS[:-3], "refresh=1", "full_refresh=1", "ttl=1")
    wait_for(lambda: complete(m), timeout=60)
    first_done = time.time()
    newest = max(c["created_at"] for c in emu.data()["conversations"])
    when = datetime.fromisoformat(newest.replace("Z", "+00:00")) + timedelta(hours=1)
    day = when.strftime("%Y-%m-%d")
    # Four scaled hours of refreshes, with full listings due all the time.
    hour = 3600 * SCALE
    deadline = first_done + 4 * hour
    time.sleep(hour)
    emu.add("conversations", {"id": "arrived-later", "created_at": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                              "structured": {"title": "Later"}, "transcript_segments": []})
    added = time.time()
    wait_for(lambda: os.path.isdir(m.p("conversations", day, "arrived-later")), timeout=hour)
    # Within one refresh interval (1 s), give or take a request's time.
    assert time.time() - added < 3
    time.sleep(max(0, deadline - time.time()))
    pages = [t for t in full_listing_pages(log_path) if t >= first_done]
    # The refreshes did list (at least one full listing's worth of pages),
    # and never took more than half of the 60 an hour allows.
    assert len(pages) >= FLOOR, len(pages)
    assert most_in_a_window(pages, hour) <= 30, most_in_a_window(pages, hour)
    assert emu.stats()["by_status"].get("429", 0) == 0, emu.stats()
    status = read(m.p(".omifs", "status"))
    assert re.search(r"conversations .*full listing every \d+ s \(half of the conversations policy\)",
                     status), status


def conversation_listing_limits(log_path):
    """The limit each full-listing page of conversations asked, in order."""
    return [int(re.search(r"limit=(\d+)", r["query"]).group(1))
            for r in full_listing_requests(log_path)]


def test_listings_ask_the_page_size_the_server_serves(emulator_factory, mount_factory, tmp_path):
    log_path = tmp_path / "requests.jsonl"
    emu = emulator_factory("--conversations", 250, "--segments", 1, "--window-scale", SCALE,
                           "--log", str(log_path), profile="backend")
    options = ("api_profile=backend", f"rate_window_scale={SCALE}", "budget_wait=1",
               f"cache_dir={tmp_path / 'cache'}")
    m = mount_factory(emu.url, *options)
    wait_for(lambda: complete(m), timeout=60)
    m.cleanup()
    # Asked 1000 a page, the backend served 100: the short pages that were
    # not the last show its clamp.
    first = conversation_listing_limits(log_path)
    assert first and set(first) == {1000}, first
    # The next run (the clamp kept in the cache) asks exactly that.
    m = mount_factory(emu.url, *options, "full_refresh=1")
    wait_for(lambda: len(conversation_listing_limits(log_path)) >= len(first) + 4, timeout=30)
    assert set(conversation_listing_limits(log_path)[len(first):]) == {100}


def test_a_first_sync_says_what_it_waits_for_and_counts_right_on_ctrl_c(emulator_factory,
                                                                         tmp_path):
    # 700 conversations come 25 to a page with their transcripts: 29
    # requests, against the 25 an hour of the transcripts policy.
    scale = 0.005  # an hour lasts 18 s
    emu = emulator_factory("--conversations", 700, "--segments", 1, "--window-scale", scale,
                           profile="backend")
    env = {"PATH": os.environ["PATH"], "OMI_API_KEY": TEST_KEY, "XDG_CACHE_HOME": str(tmp_path),
           "TZ": "UTC"}
    returncode, out, err = interrupt_omifs(
        ["sync", "--json", "-o", f"url={emu.url},api_profile=backend,rate_window_scale={scale}"],
        env, lambda err: "waiting for the transcripts policy: next request in" in err)
    assert returncode == 130, err
    assert re.search(r"waiting for the transcripts policy: next request in \d+m\d+s; "
                     r"(\d+) of \1 listed so far cached", err), err
    m = re.search(r"interrupted: (\d+) transcripts cached, of (\d+) conversations listed so far", err)
    summary = json.loads(out)
    assert m, err
    assert summary["result"] == "interrupted" and not summary["conversations_listed_completely"]
    assert 0 < int(m.group(1)) == summary["transcripts"] <= int(m.group(2)) == summary["conversations"]
    assert summary["transcripts"] >= 600  # 25 pages of 25 came before the wait
    # The next run starts where the server's window is: it says it waits
    # rather than meet a 429.
    returncode, out, err = interrupt_omifs(
        ["sync", "--json", "-o", f"url={emu.url},api_profile=backend,rate_window_scale={scale}"],
        env, lambda err: "waiting for the transcripts policy: next request in" in err)
    assert returncode == 130, err
    assert json.loads(out)["transcripts"] >= summary["transcripts"]
    assert emu.stats()["by_status"].get("429", 0) == 0
