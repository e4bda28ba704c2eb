"""Unmount and SIGTERM while refreshes are in flight and change the tree.

A refresh that finishes after the session loop has ended used to
invalidate paths through libfuse nodes that unmount had already freed
(a crash at exit, issue 10). Each cycle mounts with refresh=1 against a
slow server, changes the data, storms the process with SIGHUP so that a
refresh is in flight, and ends the mount at a varying moment. The process
must exit 0, quickly, with no sanitizer report and no mount left.

OMIFS_STRESS_CYCLES sets the number of cycles (make check-asan and
check-tsan raise it); the whole test is bounded by STRESS_SECONDS.
"""

import os
import signal
import subprocess
import time

from emulator import UNLIMITED
from mount import Mount, is_mounted, unmount

CYCLES = int(os.environ.get("OMIFS_STRESS_CYCLES", "4"))
STRESS_SECONDS = 240
LATENCY_MS = 300
EXIT_SECONDS = 10


def end_mount(m, how):
    """Ends the mount as a user would; returns omifs's exit status."""
    if how == "sigterm":
        m.proc.send_signal(signal.SIGTERM)
    else:
        subprocess.run(["fusermount3", "-u", m.path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=EXIT_SECONDS)
    started = time.monotonic()
    try:
        rc = m.proc.wait(timeout=EXIT_SECONDS * 3)
    finally:
        m.stop()  # reaps and unmounts whatever is left
    return rc, time.monotonic() - started


def test_unmount_and_sigterm_during_refreshes(emulator_factory):
    emu = emulator_factory(*UNLIMITED, "--latency-ms", str(LATENCY_MS), "--conversations", "12",
                           "--memories", "20", "--action-items", "10")
    data = emu.data()
    deadline = time.monotonic() + STRESS_SECONDS
    for cycle in range(CYCLES):
        if time.monotonic() > deadline:
            break
        m = Mount(emu.url, "ttl=1", "refresh=1", "full_refresh=1", "transcript_batch=3",
                  "timeout=20", mount_timeout=30)
        try:
            m.start()
            assert os.listdir(m.p("memories"))
            assert os.listdir(m.p("conversations"))
            mem = data["memories"][cycle % len(data["memories"])]
            emu.patch("memories", mem["id"], {"content": "changed in cycle %d" % cycle})
            conv = data["conversations"][cycle % len(data["conversations"])]
            emu.patch("conversations", conv["id"], {"structured": {"title": "Cycle %d" % cycle}})
            for _ in range(6):
                m.proc.send_signal(signal.SIGHUP)
                time.sleep(0.05)
            # Land inside a refresh: before, during and after the slow answer.
            time.sleep((cycle % 4) * LATENCY_MS / 1000 / 2)
            rc, took = end_mount(m, "sigterm" if cycle % 2 else "unmount")
            log = m.log()
            assert rc == 0, "cycle %d: omifs exited with %s:\n%s" % (cycle, rc, log[-4000:])
            assert "Sanitizer" not in log, log[-6000:]
            assert took < EXIT_SECONDS, "cycle %d: omifs took %.1f s to exit" % (cycle, took)
            assert not is_mounted(m.path)
        finally:
            m.cleanup()
            unmount(m.path)
