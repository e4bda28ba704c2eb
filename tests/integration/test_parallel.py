"""Many readers at once while the data changes and refreshes run.

Under make check-tsan this runs against a ThreadSanitizer build, and any
report in omifs's log fails the test.
"""

import os
import threading
import time

from emulator import UNLIMITED

READERS = 8
SECONDS = 8


def read_everything(root, errors, stop):
    while not stop.is_set():
        for dirpath, _, files in os.walk(root):
            for name in files:
                try:
                    with open(os.path.join(dirpath, name), "rb") as f:
                        f.read()
                except FileNotFoundError:
                    pass  # renamed away by a refresh between listing and open
                except OSError as e:
                    errors.append(f"{name}: {e}")


def test_parallel_readers_during_refreshes(emulator_factory, mount_factory):
    emu = emulator_factory(*UNLIMITED)
    data = emu.data()
    m = mount_factory(emu.url, "ttl=1", "refresh=1", "full_refresh=1", "transcript_batch=7",
                        "transcript_page=14")
    errors, stop = [], threading.Event()
    readers = [threading.Thread(target=read_everything, args=(m.path, errors, stop)) for _ in range(READERS)]
    for t in readers:
        t.start()
    try:
        deadline = time.monotonic() + SECONDS
        i = 0
        while time.monotonic() < deadline:
            conv = data["conversations"][i % len(data["conversations"])]
            emu.patch("conversations", conv["id"], {"structured": {"title": f"Edited {i}"}})
            emu.patch("memories", data["memories"][i % 10]["id"], {"content": f"Changed {i}"})
            i += 1
            time.sleep(0.3)
    finally:
        stop.set()
        for t in readers:
            t.join(timeout=60)
    assert not any(t.is_alive() for t in readers), "a reader hung"
    assert not errors, errors[:5]
    assert m.proc.poll() is None, m.log()
    m.stop()
    assert "ThreadSanitizer" not in m.log(), m.log()[-5000:]
    assert "AddressSanitizer" not in m.log()
