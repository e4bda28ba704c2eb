"""The fault suite: each fault switched on while mounted, then off again.

For every fault: omifs does not crash; what is cached is served byte for
byte; an uncached read fails with EIO or EAGAIN within a bounded time;
rsync -a --delete into an existing backup deletes and truncates nothing;
and the data comes back once the fault clears.
"""

import errno
import filecmp
import shutil
import subprocess
import time

import pytest

from emulator import UNLIMITED
from fsutil import BACKUP_EXCLUDES, files_under

# Short timeouts so that a fault is felt in seconds, not minutes.
OPTIONS = ("ttl=1", "refresh=1", "full_refresh=2", "retries=1", "timeout=3", "connect_timeout=2",
           "budget_wait=3", "transcript_batch=5", "transcript_page=5")
BOUND = 25  # seconds an uncached read may take to fail

FAULTS = {
    "500s": dict(error_rate=1.0),
    "429 storm": dict(fail_next=100000, error_status=429, retry_after=30),
    "latency spike": dict(latency_ms=5000),
    "malformed JSON": dict(malformed_rate=1.0),
    "truncated JSON": dict(truncate_rate=1.0),
    "dropped connections": dict(drop_rate=1.0),
    "stalled response": dict(stall_rate=1.0, stall_seconds=60),
    "wrong types": dict(wrong_types_rate=1.0),
    "server killed": None,  # and restarted on the same port afterwards
}


def transcripts(root):
    return sorted(p for p in files_under(root) if p.endswith("transcript.txt"))


@pytest.mark.parametrize("name", list(FAULTS))
def test_fault(name, emulator_factory, mount_factory, tmp_path):
    emu = emulator_factory(*UNLIMITED)
    backup = tmp_path / "backup"
    # A complete backup, made before any fault, by a mount of its own.
    full = mount_factory(emu.url, f"cache_dir={tmp_path / 'full-cache'}")
    subprocess.run(["rsync", "-a", *BACKUP_EXCLUDES, full.path + "/", str(backup) + "/"], check=True,
                   timeout=300)
    full.cleanup()

    m = mount_factory(emu.url, *OPTIONS, f"cache_dir={tmp_path / 'cache'}")
    all_transcripts = transcripts(m.path)
    cached = all_transcripts[: len(all_transcripts) // 2]
    for rel in cached:
        with open(m.p(rel), "rb") as f:
            f.read()
    uncached = all_transcripts[-1]
    served_before = {rel: open(full_path, "rb").read() for rel, full_path in files_under(m.path).items()
                     if not rel.startswith(".omifs/") and not rel.endswith(("transcript.txt", "conversation.json"))
                     or rel in cached}

    if FAULTS[name] is None:
        port = emu.port
        emu.stop()
    else:
        emu.set_faults(**FAULTS[name])
    time.sleep(2.5)  # let refreshes run into the fault

    # What is cached is served byte for byte.
    for rel, content in served_before.items():
        with open(m.p(rel), "rb") as f:
            assert f.read() == content, rel
    # An uncached read fails, quickly, with EIO or EAGAIN.
    start = time.monotonic()
    with pytest.raises(OSError) as e:
        with open(m.p(uncached), "rb") as f:
            f.read()
    assert e.value.errno in (errno.EIO, errno.EAGAIN), e.value
    assert time.monotonic() - start < BOUND
    # A backup run during the fault deletes and truncates nothing.
    copy = tmp_path / "copy"
    shutil.copytree(backup, copy)
    r = subprocess.run(["rsync", "-a", "--delete", *BACKUP_EXCLUDES, m.path + "/", str(copy) + "/"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode in (0, 23, 24), r.stderr  # 23: some files could not be read
    cmp = filecmp.dircmp(backup, copy)
    assert not cmp.left_only, cmp.left_only
    for rel in files_under(backup):
        assert filecmp.cmp(backup / rel, copy / rel, shallow=False), rel
    assert m.proc.poll() is None, "omifs died"

    # The data comes back when the fault clears.
    if FAULTS[name] is None:
        emu = emulator_factory(*UNLIMITED, "--port", str(port))
    else:
        emu.clear_faults()
    deadline = time.monotonic() + 40
    while True:
        try:
            with open(m.p(uncached), "rb") as f:
                content = f.read()
            break
        except OSError:
            assert time.monotonic() < deadline, "the data did not come back"
            time.sleep(0.5)
    assert content == (backup / uncached).read_bytes()
