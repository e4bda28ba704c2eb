"""Many readers at once while the data changes and refreshes run.

Under make check-tsan this runs against a ThreadSanitizer build, and any
report in omifs's log fails the test.
"""

import json
import os
import threading
import time

import reference
from emulator import UNLIMITED

READERS = 8
SECONDS = 8


def read_everything(root, errors):
    for dirpath, _, files in os.walk(root):
        for name in files:
            try:
                with open(os.path.join(dirpath, name), "rb") as f:
                    f.read()
            except FileNotFoundError:
                pass  # renamed away by a refresh between listing and open
            except OSError as e:
                errors.append(f"{name}: {e}")


def while_reading(read_once, change, pause, readers=READERS):
    """Calls read_once over and over in `readers` threads while change(i) is
    called every `pause` seconds for SECONDS; returns how many changes were
    made. Fails when a reader hangs."""
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            read_once()

    readers = [threading.Thread(target=reader) for _ in range(readers)]
    for t in readers:
        t.start()
    i = 0
    try:
        deadline = time.monotonic() + SECONDS
        while time.monotonic() < deadline:
            change(i)
            i += 1
            time.sleep(pause)
    finally:
        stop.set()
        for t in readers:
            t.join(timeout=60)
    assert not any(t.is_alive() for t in readers), "a reader hung"
    return i


def test_parallel_readers_during_refreshes(emulator_factory, mount_factory):
    emu = emulator_factory(*UNLIMITED)
    data = emu.data()
    m = mount_factory(emu.url, "ttl=1", "refresh=1", "full_refresh=1", "transcript_batch=7",
                        "transcript_page=14")
    errors = []

    def change(i):
        conv = data["conversations"][i % len(data["conversations"])]
        emu.patch("conversations", conv["id"], {"structured": {"title": f"Edited {i}"}})
        emu.patch("memories", data["memories"][i % 10]["id"], {"content": f"Changed {i}"})

    while_reading(lambda: read_everything(m.path, errors), change, 0.3)
    assert not errors, errors[:5]
    assert m.proc.poll() is None, m.log()
    m.stop()
    assert "ThreadSanitizer" not in m.log(), m.log()[-5000:]
    assert "AddressSanitizer" not in m.log()


def read_uncached(path):
    """The file's bytes as omifs gives them now: the kernel's cached pages
    of it are dropped first, so that every read reaches omifs."""
    with open(path, "rb") as f:
        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        return f.read()


def read_once_uncached(path):
    """One read(2) of the whole file as omifs gives it now (the kernel's
    pages dropped first). Reads of a file in several calls may, like reads
    of a local file rewritten under them, join two versions; one call may
    not."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        return os.read(fd, 1 << 20)
    finally:
        os.close(fd)


def whole_version(path, data):
    """Why data cannot be one version of the file at path (cut, padded with
    zeros, lines of two versions), or None."""
    if b"\0" in data or not data.endswith(b"\n"):
        return f"{path}: {len(data)} bytes, not one version's: {data[-40:]!r}"
    if path.endswith(".jsonl"):
        for line in data.splitlines():
            try:
                json.loads(line)
            except ValueError:
                return f"{path}: a line cut: {line[-40:]!r}"
    elif data.count(b"\n") != 1:
        return f"{path}: {data!r} is not one memory's text"
    return None


def test_files_read_as_they_change_are_whole_versions(emulator_factory, mount_factory):
    """A refresh writes the store a moment before the tree shows it, and a
    moment after that tells the kernel: 32 readers, each read(2) reaching
    omifs (the kernel's pages dropped first), while the memories change
    every 0.1 s to longer and shorter texts, get every time one version's
    bytes, whole: never an error, never cut at an old size nor padded with
    zeros to it (memories.jsonl once failed with EIO)."""
    # Enough conversations that building a snapshot takes a while: the
    # window between a refresh's write and its snapshot is that long.
    emu = emulator_factory(*UNLIMITED, "--conversations", "2000")
    data = emu.data()
    m = mount_factory(emu.url, "ttl=1", "refresh=1", "full_refresh=1")
    changing = [x for x in reference.usable(data["memories"])
                if reference.string(x, "content") and reference.string(x, "category")][:10]
    paths = [os.path.join(m.path, "memories.jsonl")]
    for x in changing:
        name = reference.safe_name(reference.object_id(x), ".txt")
        paths.append(os.path.join(m.path, "memories", reference.safe_name(x["category"]), name))
    errors, changed_reads = [], []

    def read_all():
        for path in paths:
            try:
                got = read_once_uncached(path)
            except OSError as e:
                errors.append(f"{path}: {e}")
                continue
            if b"Changed" in got:
                changed_reads.append(path)
            problem = whole_version(path, got)
            if problem:
                errors.append(problem)

    def change(i):
        x = changing[i % len(changing)]
        emu.patch("memories", x["id"], {"content": f"Changed {'to a longer text ' * (i % 5)}{i}"})

    assert while_reading(read_all, change, 0.1, readers=32) > 20, "too few changes to tell"
    assert not errors, errors[:5]
    assert changed_reads, "no read saw a change"
    assert m.proc.poll() is None, m.log()
    m.stop()
    assert "ThreadSanitizer" not in m.log(), m.log()[-5000:]
    assert "AddressSanitizer" not in m.log()
