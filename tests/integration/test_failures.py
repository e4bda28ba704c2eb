"""A failing server never makes a file look absent or a listing look short."""

import errno
import os
import signal
import subprocess
import time

import pytest

from emulator import UNLIMITED
from fsutil import BACKUP_EXCLUDES


def listdir_errno(path):
    try:
        os.listdir(path)
    except OSError as e:
        return e.errno
    return 0


def test_unlisted_collection_is_an_error_not_an_empty_directory(emulator_factory, mount_factory):
    emu = emulator_factory(*UNLIMITED)
    emu.set_faults(error_rate=1.0, paths="/user/conversations")
    m = mount_factory(emu.url, "retries=1", "page_size=20")
    start = time.monotonic()
    assert listdir_errno(m.p("conversations")) == errno.EIO
    assert time.monotonic() - start < 30
    assert len(os.listdir(m.p("memories"))) > 0  # the other collections still work

    # While it waits to try again, omifs sleeps: the refresher once spun here.
    def cpu_seconds():
        fields = open(f"/proc/{m.proc.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    before = cpu_seconds()
    time.sleep(3)
    assert cpu_seconds() - before < 1.0
    emu.clear_faults()
    deadline = time.monotonic() + 20
    while listdir_errno(m.p("conversations")) != 0:
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert len(os.listdir(m.p("conversations"))) > 0


def test_a_listing_that_fails_midway_is_not_served_short(emulator_factory, mount_factory):
    emu = emulator_factory(*UNLIMITED)
    expected = len(emu.data()["memories"])
    m = mount_factory(emu.url, "ttl=1", "refresh=1", "retries=0", "page_size=20")
    count = lambda: int(subprocess.run(f"find {m.p('memories')} -type f | wc -l", shell=True,
                                       capture_output=True, text=True, timeout=60).stdout)
    assert count() == expected
    # Every second request fails: the refresh breaks after a page or two.
    emu.set_faults(error_rate=0.5, paths="/user/memories")
    for _ in range(6):
        time.sleep(1.1)
        assert count() == expected
    emu.clear_faults()


@pytest.mark.parametrize("fault", [{"malformed_rate": 1.0}, {"truncate_rate": 1.0}, {"drop_rate": 1.0},
                                   {"wrong_types_rate": 1.0}])
def test_bad_answers_keep_the_cached_tree(fault, emulator_factory, mount_factory, tmp_path):
    emu = emulator_factory(*UNLIMITED)
    m = mount_factory(emu.url, "ttl=1", "refresh=1", "full_refresh=1", "retries=1")
    backup = tmp_path / "backup"
    subprocess.run(["rsync", "-a", *BACKUP_EXCLUDES, m.path + "/", str(backup) + "/"], check=True,
                   timeout=120)
    emu.set_faults(**fault)
    junk = []
    if "wrong_types_rate" in fault:
        # Ids scrambled to null or a list are skipped, so the listing is
        # incomplete: it deletes and changes nothing known. The items whose
        # id became a usable 987654321 make one new conversation; its
        # transcript cannot be fetched from a server that scrambles every
        # answer, so its files may answer EIO, never ENOENT, and it is left
        # out of the backup.
        # Most scrambled listings fail whole, and each failure doubles the
        # pause before the next (5, 10, 20 s): SIGHUP asks for one now,
        # so that three failures in a row do not outlast the wait.
        deadline = time.monotonic() + 60
        while not junk:
            assert time.monotonic() < deadline, "no scrambled item was listed"
            m.proc.send_signal(signal.SIGHUP)
            time.sleep(1)
            junk = [os.path.join(m.p("conversations"), day, "987654321")
                    for day in os.listdir(m.p("conversations"))
                    if os.path.isdir(os.path.join(m.p("conversations"), day, "987654321"))]
        for name in ("conversation.json", "transcript.txt"):
            try:
                os.stat(os.path.join(junk[0], name))
            except OSError as e:
                # Each answer scrambles its created_at anew: a refresh may
                # have moved the item to another day, directory and all.
                # A file missing from a directory still shown never is.
                assert e.errno == errno.EIO or (e.errno == errno.ENOENT and
                                                not os.path.isdir(junk[0])), e
    else:
        time.sleep(1.5)
    out = subprocess.run(["rsync", "-a", "--delete", "--itemize-changes", *BACKUP_EXCLUDES,
                          "--exclude=/conversations/*/987654321/", m.path + "/", str(backup) + "/"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "deleting" not in out.stdout
    # Nothing known changed; a new conversation's day directory may be new,
    # and a directory that gained a scrambled item is dated by its newest.
    lines = out.stdout.splitlines()
    gained = {os.path.dirname(line.split(" ", 1)[1].rstrip("/")) + "/"
              for line in lines if "+++++++++" in line}
    changed = [line for line in lines if "+++++++++" not in line and
               not (line.startswith(".d..t") and line.split(" ", 1)[1] in gained)]
    assert changed == [], out.stdout
    if not junk:
        assert out.stdout == ""
    assert m.proc.poll() is None


@pytest.mark.parametrize("fault", [{"wrong_types_rate": 1.0}, {"malformed_rate": 1.0}, {"error_rate": 1.0}])
def test_an_unfetchable_transcript_is_eio_then_comes_back(fault, emulator_factory, mount_factory):
    emu = emulator_factory(*UNLIMITED)
    m = mount_factory(emu.url, "retries=1")
    day = sorted(os.listdir(m.p("conversations")))[0]
    conv = sorted(os.listdir(m.p("conversations", day)))[0]
    transcript = m.p("conversations", day, conv, "transcript.txt")
    emu.set_faults(**fault)
    with pytest.raises(OSError) as e:
        open(transcript, "rb").read()
    assert e.value.errno == errno.EIO
    emu.clear_faults()
    # After a failed batch, omifs waits a few seconds before asking again.
    deadline = time.monotonic() + 30
    while True:
        try:
            with open(transcript, "rb") as f:
                content = f.read()
            break
        except OSError as e:
            assert e.errno == errno.EIO and time.monotonic() < deadline
            time.sleep(0.5)
    assert len(content) == os.stat(transcript).st_size


def test_readers_queued_behind_a_stalled_listing_fail_together(emulator_factory, mount_factory):
    """A first listing that stalls until it times out: the status and the
    other names of the root answer meanwhile (a lookup never waits for the
    server: the kernel holds the directory through it), and the readers
    that waited for that listing fail with it, not one listing after
    another."""
    timeout = 10
    emu = emulator_factory(*UNLIMITED)
    emu.set_faults(stall_rate=1.0, stall_seconds=120, paths="/user/conversations")
    m = mount_factory(emu.url, "retries=0", f"timeout={timeout}", "connect_timeout=2")
    start = time.monotonic()
    readers = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for cmd in (["ls", m.p("conversations")], ["stat", m.p("conversations.jsonl")],
                           ["cat", m.p("conversations.jsonl")], ["ls", m.p("conversations")])]
    try:
        time.sleep(1)
        for cmd in (["cat", m.p(".omifs", "status")], ["ls", m.p("memories")],
                    ["stat", m.p("action-items.jsonl")]):
            asked = time.monotonic()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True, timeout=60)
            assert time.monotonic() - asked < 3, cmd
        for r in readers:
            assert r.wait(timeout=120) != 0
        # One listing's timeout, not one per reader (each once ran its own).
        assert time.monotonic() - start < timeout * 1.6
    finally:
        for r in readers:
            if r.poll() is None:
                r.kill()
                r.wait()
    assert m.proc.poll() is None


def test_a_vault_note_waiting_for_its_transcript_holds_back_no_other_note(emulator_factory,
                                                                          mount_factory):
    """A note's size needs its transcript. While fetching one stalls, the
    other notes of vault/Conversations, whose transcripts are cached,
    answer at once: the lookup of the stalled one did not wait for the
    server with the folder held."""
    emu = emulator_factory(*UNLIMITED)
    m = mount_factory(emu.url, "retries=0", "timeout=10", "connect_timeout=2", "transcript_batch=1",
                      "transcript_page=1")
    # Every transcript but the newest day's is cached, read through
    # conversations/: no name in vault/ is looked up before the stall.
    days = sorted(os.listdir(m.p("conversations")))
    for day in days[:-1]:
        for conv in os.listdir(m.p("conversations", day)):
            with open(m.p("conversations", day, conv, "transcript.txt"), "rb") as f:
                f.read()
    notes = m.p("vault", "Conversations")
    names = sorted(os.listdir(notes))  # "<date> <time> <title>.md": oldest first
    cached, stalled = os.path.join(notes, names[0]), os.path.join(notes, names[-1])
    emu.set_faults(stall_rate=1.0, stall_seconds=120, paths="/user/conversations")
    reader = subprocess.Popen(["cat", stalled], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1)
        asked = time.monotonic()
        subprocess.run(["stat", cached], stdout=subprocess.DEVNULL, check=True, timeout=60)
        assert time.monotonic() - asked < 3
        assert reader.wait(timeout=60) != 0  # the stalled fetch times out: EIO
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait()
    assert m.proc.poll() is None
