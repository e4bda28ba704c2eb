"""Keys, mount(8), install, logs: omifs among the usual tools."""

import os
import stat
import subprocess
import time

import pytest

from emulator import TEST_KEY, UNLIMITED
from mount import OMIFS, REPO


def keys(emu, *words, key=TEST_KEY, stdin=subprocess.DEVNULL):
    env = {"PATH": os.environ["PATH"], "OMI_API_KEY": key}
    return subprocess.run([OMIFS, "keys", *words, "-o", f"url={emu.url}"], env=env, stdin=stdin,
                          capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("profile", ["documented", "backend"])
def test_keys_list_create_revoke(profile, emulator_factory, tmp_path):
    emu = emulator_factory(profile=profile)
    r = keys(emu, "list")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].split() == ["ID", "NAME", "PREFIX", "CREATED", "(UTC)", "LAST", "USED", "(UTC)"]

    r = keys(emu, "create", "Laptop backup")
    assert r.returncode == 0, r.stderr
    secret = r.stdout.splitlines()[-1]
    assert secret.startswith("omi_dev_") and len(secret) == 40
    assert "only time" in r.stderr
    assert "Laptop backup" in keys(emu, "list").stdout

    saved = tmp_path / "new.key"
    r = keys(emu, "create", "saved", "--save", str(saved))
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    new_key = saved.read_text().strip()
    assert new_key.startswith("omi_dev_") and new_key not in r.stdout + r.stderr
    assert keys(emu, "list", key=new_key).returncode == 0  # the new key works

    key_id = next(line.split()[0] for line in keys(emu, "list").stdout.splitlines() if " saved " in line)
    r = keys(emu, "revoke", key_id)  # stdin is not a terminal: no question
    assert r.returncode == 0 and f"revoked key {key_id}" in r.stdout
    r = keys(emu, "list", key=new_key)
    assert r.returncode == 2 and "401" in r.stderr


@pytest.mark.parametrize("profile", ["documented", "backend"])
def test_keys_errors_are_clear(profile, emulator_factory, tmp_path):
    emu = emulator_factory(profile=profile)
    r = keys(emu, "revoke", "key_does_not_exist")
    assert r.returncode == 4 and "no key has the id key_does_not_exist" in r.stderr
    r = keys(emu, "list", key="omi_dev_" + "e" * 32)
    assert r.returncode == 2 and "401" in r.stderr and "e" * 32 not in r.stderr
    r = keys(emu, "create", "")
    assert r.returncode == 3 and ("400" in r.stderr or "422" in r.stderr)
    r = keys(emu, "frobnicate")
    assert r.returncode == 1 and "usage" in r.stderr
    emu.set_faults(fail_next=10, error_status=429)
    r = keys(emu, "list")
    assert r.returncode == 3 and "429" in r.stderr or "budget" in r.stderr


def test_mount_through_mount_fuse3(emulator_factory, tmp_path):
    """mount -t fuse.omifs runs "omifs" from a fixed PATH (/usr/local/bin and
    the like), so this test installs omifs there inside a private mount
    namespace: the system's own /usr/local/bin is never touched."""
    emu = emulator_factory(*UNLIMITED)
    key_file = tmp_path / "key"
    key_file.write_text(TEST_KEY)
    key_file.chmod(0o600)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "omifs").write_bytes(open(OMIFS, "rb").read())
    (bindir / "omifs").chmod(0o755)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    options = f"key_file={key_file},url={emu.url},cache_dir={tmp_path / 'cache'},_netdev,nofail"
    script = f"""
        set -e
        mount --bind {bindir} /usr/local/bin
        mount -t fuse.omifs omifs {mnt} -o {options}
        trap 'fusermount3 -u {mnt} || fusermount3 -uz {mnt}' EXIT
        grep " {mnt} fuse.omifs " /proc/self/mounts
        ls {mnt}
        cat {mnt}/.omifs/status | head -1
    """
    # From a directory without a file named "omifs", which mount(8) would
    # take for the source's path.
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                       capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"omifs {mnt} fuse.omifs ro,")
    assert "conversations" in r.stdout and "omifs 0." in r.stdout
    deadline = time.monotonic() + 15
    while subprocess.run(["pgrep", "-f", f"omifs.*{mnt}"], capture_output=True).returncode == 0:
        assert time.monotonic() < deadline, "omifs still running after unmount"
        time.sleep(0.1)


def test_install_and_uninstall_into_destdir(tmp_path):
    dest = tmp_path / "root"
    make = ["make", "-C", str(REPO), f"DESTDIR={dest}", "PREFIX=/usr"]
    r = subprocess.run(make + ["install"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    binary = dest / "usr/bin/omifs"
    assert stat.S_IMODE(binary.stat().st_mode) == 0o755
    assert (dest / "usr/share/man/man1/omifs.1").is_file()
    unit = (dest / "usr/lib/systemd/user/omifs.service").read_text()
    assert "ExecStart=/usr/bin/omifs -f" in unit and "@BINDIR@" not in unit
    assert subprocess.run([str(binary), "-V"], capture_output=True, timeout=10).returncode == 0
    r = subprocess.run(make + ["uninstall"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert not binary.exists() and not (dest / "usr/lib/systemd/user/omifs.service").exists()
    assert not (dest / "usr/share/man/man1/omifs.1").exists()


def test_debug_output_shows_requests_but_never_the_key(emulator_factory, mount_factory):
    emu = emulator_factory(*UNLIMITED)
    m = mount_factory(emu.url, extra_args=["-d"])
    os.listdir(m.p("memories"))
    day = sorted(os.listdir(m.p("conversations")))[0]
    conv = os.listdir(m.p("conversations", day))[0]
    open(m.p("conversations", day, conv, "transcript.txt"), "rb").read()
    m.stop()
    log = m.log()
    assert "GET /user/memories" in log and "include_transcript=true" in log
    assert TEST_KEY not in log and TEST_KEY[8:] not in log
