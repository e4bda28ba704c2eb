"""Where omifs' log goes: -d, -o fuse_debug, -o log_file and the journal."""

import os
import re
import stat
import subprocess
import time

from emulator import TEST_KEY, UNLIMITED
from mount import OMIFS, base_env, is_mounted, run_omifs, unmount

# libfuse's own trace: one line per operation, "unique: N, opcode: LOOKUP".
FUSE_TRACE = re.compile(r"unique: \d+, opcode: ")


def touch_everything(m):
    os.listdir(m.p("memories"))
    day = sorted(os.listdir(m.p("conversations")))[0]
    conv = os.listdir(m.p("conversations", day))[0]
    open(m.p("conversations", day, conv, "transcript.txt"), "rb").read()


def test_d_logs_omifs_requests_without_libfuse_trace(emulator_factory, mount_factory):
    emu = emulator_factory(*UNLIMITED)
    m = mount_factory(emu.url, extra_args=["-d"])
    touch_everything(m)
    m.stop()
    assert "GET /user/memories" in m.log()
    assert not FUSE_TRACE.search(m.log()), m.log()[:2000]


def test_fuse_debug_adds_libfuse_trace(emulator_factory, mount_factory):
    emu = emulator_factory(*UNLIMITED)
    m = mount_factory(emu.url, "fuse_debug")
    touch_everything(m)
    m.stop()
    assert FUSE_TRACE.search(m.log())
    # Without -d, omifs' own lines stay at the usual level.
    assert "GET /user/memories" not in m.log()


def test_log_file_is_private_appended_and_never_holds_the_key(emulator_factory, mount_factory, tmp_path):
    emu = emulator_factory(*UNLIMITED)
    log = tmp_path / "omifs.log"
    log.write_text("an earlier line\n")
    log.chmod(0o600)
    m = mount_factory(emu.url, f"log_file={log}", extra_args=["-d"])
    touch_everything(m)
    m.stop()
    text = log.read_text()
    assert text.startswith("an earlier line\n")  # appended, not truncated
    assert re.search(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ omifs\[\d+\]: debug: GET /user/memories", text, re.M), text[:2000]
    assert TEST_KEY not in text and TEST_KEY[8:] not in text
    assert "GET /user/memories" not in m.log()  # the lines went to the file, not stderr

    fresh = tmp_path / "new.log"
    m = mount_factory(emu.url, f"log_file={fresh}", extra_args=["-d"])
    m.stop()
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600 and fresh.stat().st_size > 0


def test_log_file_others_can_read_is_refused(emulator_factory, tmp_path):
    emu = emulator_factory(*UNLIMITED)
    log = tmp_path / "shared.log"
    log.write_text("")
    log.chmod(0o644)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = run_omifs("-o", f"url={emu.url},log_file={log}", str(mnt))
    assert r.returncode == 1 and not is_mounted(mnt)
    assert f"refusing log file {log}" in r.stderr and "chmod 600" in r.stderr
    r = run_omifs("-o", f"url={emu.url},log_file={tmp_path}/no/such/dir.log", str(mnt))
    assert r.returncode == 1 and "cannot open log file" in r.stderr
    r = run_omifs("search", "-o", f"log_file={log}", "x")
    assert r.returncode == 2 and "log_file goes with a mount and omifs sync" in r.stderr


def test_daemon_logs_to_the_journal_stream_with_priorities(emulator_factory, tmp_path):
    """Run by systemd, stderr is the journal's stream ($JOURNAL_STREAM
    names it): a daemon keeps writing there, each line with the journal's
    <priority> prefix, instead of losing it to /dev/null."""
    emu = emulator_factory(*UNLIMITED)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    journal = tmp_path / "journal"
    with open(journal, "w") as stream:
        st = os.fstat(stream.fileno())
        env = base_env(JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}", OMI_API_KEY=TEST_KEY, TZ="UTC",
                       XDG_CACHE_HOME=str(tmp_path / "cache"))
        r = subprocess.run([OMIFS, "-o", f"url={emu.url},log_level=3", str(mnt)], env=env,
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stream, timeout=30)
    pid = None
    try:
        assert r.returncode == 0, journal.read_text()
        status = (mnt / ".omifs" / "status").read_text()
        pid = int(re.search(r"^pid\s+(\d+)", status, re.M).group(1))
        os.listdir(mnt / "memories")
    finally:
        unmount(str(mnt))
    deadline = time.monotonic() + 15
    while pid and os.path.exists(f"/proc/{pid}"):
        assert time.monotonic() < deadline, "omifs still running after unmount"
        time.sleep(0.1)
    text = journal.read_text()
    assert re.search(r"^<7>omifs: debug: GET /user/memories", text, re.M), text[:2000]
    assert TEST_KEY not in text
