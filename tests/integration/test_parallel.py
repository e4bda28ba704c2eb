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


def size_race(path, data, versions):
    """Whether data is what Linux's page cache gives when a file's size
    changes between a read's reply and its copy: one version's bytes, cut
    at a shorter size or padded with zeros to a longer one. filemap_read
    reads i_size only once the page is up to date, and the kernel takes a
    new size from any stat, so no file system with stable inode numbers
    can rule it out; the next read is whole. versions: each text a memory
    file at path held (None for memories.jsonl, judged by its lines)."""
    text = data.rstrip(b"\0")
    padded = len(text) < len(data)
    if versions is None:
        whole, _, tail = text.rpartition(b"\n")
        return (padded or tail != b"") and whole_version(path, whole + b"\n") is None
    return any(v != text and v.startswith(text) for v in versions) or (padded and text in versions)


def test_files_read_as_they_change_are_whole_versions(emulator_factory, mount_factory):
    """A refresh writes the store a moment before the tree shows it, and a
    moment after that tells the kernel: 32 readers, each read(2) reaching
    omifs (the kernel's pages dropped first), while the memories change
    every 0.1 s to longer and shorter texts, get every time one version's
    bytes, whole: never an error, nor bytes of two versions, nor a cut or
    padding at anything but another version's size (memories.jsonl once
    failed with EIO). The kernel's own races (size_race, page_join) are
    allowed, rarely."""
    # Enough conversations that building a snapshot takes a while: the
    # window between a refresh's write and its snapshot is that long.
    emu = emulator_factory(*UNLIMITED, "--conversations", "2000")
    data = emu.data()
    m = mount_factory(emu.url, "ttl=1", "refresh=1", "full_refresh=1")
    changing = [x for x in reference.usable(data["memories"])
                if reference.string(x, "content") and reference.string(x, "category")][:10]
    versions = {os.path.join(m.path, "memories.jsonl"): None}
    for x in changing:
        name = reference.safe_name(reference.object_id(x), ".txt")
        path = os.path.join(m.path, "memories", reference.safe_name(x["category"]), name)
        versions[path] = {reference.render_memory(x).encode()}
    errors, changed_reads, races, reads = [], [], [], []
    lock = threading.Lock()

    def read_all():
        for path, known in versions.items():
            try:
                got = read_once_uncached(path)
            except OSError as e:
                errors.append(f"{path}: {e}")
                continue
            reads.append(path)
            if b"Changed" in got:
                changed_reads.append(path)
            problem = whole_version(path, got)
            with lock:
                if problem and (size_race(path, got, known) or page_join(path, got)):
                    races.append(problem)
                elif problem:
                    errors.append(problem)

    def change(i):
        x = changing[i % len(changing)]
        text = f"Changed {'to a longer text ' * (i % 5)}{i}"
        name = reference.safe_name(reference.object_id(x), ".txt")
        path = os.path.join(m.path, "memories", reference.safe_name(x["category"]), name)
        with lock:
            versions[path].add(reference.render_memory({"content": text}).encode())
        emu.patch("memories", x["id"], {"content": text})

    assert while_reading(read_all, change, 0.1, readers=32) > 20, "too few changes to tell"
    assert not errors, errors[:5]
    assert changed_reads, "no read saw a change"
    print(f"{len(reads)} reads, {len(races)} met the kernel's size race")
    assert len(races) <= 1 + len(reads) // 10000, races[:5]
    assert m.proc.poll() is None, m.log()
    m.stop()
    assert "ThreadSanitizer" not in m.log(), m.log()[-5000:]
    assert "AddressSanitizer" not in m.log()


PAGE = os.sysconf("SC_PAGE_SIZE")


def page_join(path, data):
    """Whether data is what Linux's page cache gives when a file of several
    pages changes while one read(2) copies it: filemap_read copies the
    pages it finds cached a batch at a time, and between two batches
    another reader's stat may learn the new version, which drops the
    pages; the read goes on with the new version's. Two versions then
    join at a page boundary: one line of a .jsonl holds the boundary and
    is not JSON, every other line is whole. No file system whose files
    change in place can rule it out (a local file rewritten under a
    reader does the same); the next read is whole."""
    if not path.endswith(".jsonl") or b"\0" in data or not data.endswith(b"\n"):
        return False
    bad, start = [], 0
    for line in data[:-1].split(b"\n"):
        end = start + len(line) + 1
        try:
            json.loads(line)
        except ValueError:
            bad.append((start, end))
        start = end
    if len(bad) != 1:
        return False
    start, end = bad[0]
    boundary = max(PAGE, -(-start // PAGE) * PAGE)  # the first after the file's start
    return boundary < end
