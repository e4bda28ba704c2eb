"""A heavy account at the backend's hourly limits, with scaled hours.

800 conversations in pages of 10 take 81 listing requests; the backend
allows 60 an hour. The listing must keep what it has when the hour's
budget is spent, show it, and continue where it stopped, in this mount
or the next: never start over.
"""

import os
import re
import subprocess

import reference
from fsutil import read, wait_for

CONVERSATIONS = 800
PAGE = 10
SCALE = 0.002  # an hour lasts 7.2 s
MOUNT_OPTIONS = ("api_profile=backend", f"rate_window_scale={SCALE}", f"page_size={PAGE}",
                 "budget_wait=1", "refresh=1", "full_refresh=3600", "ttl=1")
FLOOR = CONVERSATIONS // PAGE + 1  # pages, and the empty one that ends the listing


def heavy_emulator(emulator_factory):
    return emulator_factory("--conversations", CONVERSATIONS, "--segments", 1,
                            "--window-scale", SCALE, profile="backend")


def usable_conversations(emu):
    return len(list(reference.usable(emu.data()["conversations"])))


def listed_conversations(m):
    return sum(len(os.listdir(m.p("conversations", day))) for day in os.listdir(m.p("conversations")))


def listing_requests(emu):
    return sum(emu.stats()["by_endpoint"].get("GET /user/conversations", {}).values())


def complete(m):
    return re.search(r"conversations +\d+ items, listed completely", read(m.p(".omifs", "status")))


def test_a_listing_past_the_hour_shows_what_it_has_and_continues(emulator_factory,
                                                                 mount_factory):
    emu = heavy_emulator(emulator_factory)
    m = mount_factory(emu.url, *MOUNT_OPTIONS)
    # The hour's budget runs out before the end: ls shows what is listed.
    first = listed_conversations(m)
    assert 0 < first < usable_conversations(emu)
    status = read(m.p(".omifs", "status"))
    assert re.search(r"conversations .*\d+ listed so far, the listing continues at", status), status
    wait_for(lambda: complete(m), timeout=60)
    wait_for(lambda: listed_conversations(m) == usable_conversations(emu), timeout=5)
    # Continued, never started over; and never a 429.
    assert listing_requests(emu) <= FLOOR + 3, emu.stats()["by_endpoint"]
    assert emu.stats()["by_status"].get("429", 0) == 0, emu.stats()


def test_a_listing_continues_across_a_remount(emulator_factory, mount_factory, tmp_path):
    emu = heavy_emulator(emulator_factory)
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
    assert listing_requests(emu) <= FLOOR + 3, emu.stats()["by_endpoint"]
