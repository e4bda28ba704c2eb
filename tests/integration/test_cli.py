"""The command line as people and scripts meet it (issue 16): options,
help, keys --save, --json and -q, status and refresh, dates, a second
mount, offline without a key, df, the systemd units, completion."""

import json
import os
import re
import shutil
import subprocess
import time

import pytest

from emulator import TEST_KEY, UNLIMITED
from fsutil import read
from mount import OMIFS, REPO, interrupt_omifs, is_mounted, run_omifs, unmount


def keys(emu, *words, key=TEST_KEY):
    env = {"PATH": os.environ["PATH"], "OMI_API_KEY": key}
    return subprocess.run([OMIFS, "keys", *words, "-o", f"url={emu.url}"], env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)


# 1. Unknown options

@pytest.mark.parametrize("args, named", [
    (["keys", "list", "--bogus"], "--bogus"),
    (["keys", "list", "-o", "nonsense=1"], "nonsense=1"),
    (["sync", "--bogus", "-o", "nonsense=1"], "--bogus"),
    (["sync", "-o", "nonsense=1"], "nonsense=1"),
    (["--bogus", "MNT"], "--bogus"),
    (["--bogus"], "--bogus"),
    (["-o", "modules=subdir,subdir=/", "MNT"], "modules=subdir"),
    (["-o", "kernel_cache", "MNT"], "kernel_cache"),
    (["status", "--bogus", "MNT"], "--bogus"),
    (["keys", "create", "x", "--json"], "--json"),
    (["-q", "MNT"], "-q"),
])
def test_unknown_options_are_named_and_exit_1_before_anything_else(args, named, tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    args = [str(mnt) if a == "MNT" else a for a in args]
    # No key and no server: the option must be the first thing said.
    r = run_omifs(*args, key=None)
    assert r.returncode == 1, r
    assert named in r.stderr and "OMI_API_KEY" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "fuse:" not in r.stderr
    assert not is_mounted(mnt)


@pytest.mark.parametrize("args, said", [
    (["-o", "ttl=abc", "MNT"], "-o ttl=abc: ttl takes a number of seconds, 0 or more"),
    (["-o", "ttl=-1", "MNT"], "-o ttl=-1: ttl takes a number of seconds, 0 or more"),
    (["-o", "refresh=0", "MNT"], "-o refresh=0: refresh takes a number of seconds, 1 or more"),
    (["-o", "page_size=1e3", "MNT"], "-o page_size=1e3: page_size takes a whole number, 1 or more"),
    (["-o", "rate_window_scale=0", "MNT"], "rate_window_scale takes a factor above 0"),
    (["-o", "api_profile=foo", "MNT"], "-o api_profile=foo: api_profile takes documented or backend"),
    (["sync", "-o", "log_level=9"], "log_level takes 0 (errors), 1 (warnings), 2 (info) or 3"),
    (["search", "--limit", "abc", "foo"], "--limit abc: --limit takes a whole number, 0 or more"),
    (["search", "--limit=-2", "foo"], "--limit -2: --limit takes a whole number, 0 or more"),
    (["-o"], "-o needs options"),
    (["MNT", "MNT", "MNT"], "too many arguments"),
])
def test_option_values_are_refused_by_name_in_omifs_words(args, said, tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    args = [str(mnt) if a == "MNT" else a for a in args]
    r = run_omifs(*args, key=None)
    assert r.returncode == (2 if args[0] == "search" else 1), r
    assert said in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "fuse:" not in r.stderr and "out of range" not in r.stderr
    assert not is_mounted(mnt)


@pytest.mark.parametrize("args, said", [
    (["serach", "dentist"], "unknown command 'serach' (did you mean search?)"),
    (["stauts", "MNT"], "unknown command 'stauts' (did you mean status?)"),
    (["refrseh", "MNT"], "unknown command 'refrseh' (did you mean refresh?)"),
    (["mnt-that-is-not-there"], "unknown command 'mnt-that-is-not-there' (the commands: sync"),
])
def test_a_mistyped_command_is_not_a_mount(args, said, tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    args = [str(mnt) if a == "MNT" else a for a in args]
    r = subprocess.run([OMIFS, *args], cwd=tmp_path, env={"PATH": os.environ["PATH"]},
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and said in r.stderr, r
    assert not is_mounted(mnt)


def test_a_mountpoint_named_like_a_command_is_given_as_a_path(emulator_factory, mount_factory,
                                                              tmp_path):
    emu = emulator_factory(*UNLIMITED)
    (tmp_path / "sync").mkdir()
    # mount(8)'s source before the mountpoint is no command either.
    m = mount_factory(emu.url, path=str(tmp_path / "sync"), extra_args=["omifs"])
    assert "memories" in os.listdir(m.path)


def test_generic_fuse_options_and_mount_words_are_accepted(emulator_factory, mount_factory):
    emu = emulator_factory(*UNLIMITED)
    m = mount_factory(emu.url, "noatime", "max_threads=4", "nofail", "_netdev", "x-systemd.automount",
                      extra_args=["-s"])
    assert "memories" in os.listdir(m.path)


# 2. Help

def test_help_fits_each_command():
    top = run_omifs("-h", key=None)
    assert top.returncode == 0
    assert "omifs options:" in top.stdout and "--help-fuse" in top.stdout
    assert "subdir" not in top.stdout and "iconv" not in top.stdout
    for flag in ("-h, --help", "-V, --version", "    -f ", "    -d "):
        assert top.stdout.count(flag) == 1, flag
    assert "source is the name df and findmnt show" in top.stdout

    sync = run_omifs("sync", "-h", key=None)
    assert sync.returncode == 0 and sync.stdout.startswith("usage: omifs sync")
    assert "--quiet" in sync.stdout and "keys list" not in sync.stdout
    assert "sync sync" not in sync.stdout

    keys_help = run_omifs("keys", "-h", key=None)
    assert keys_help.returncode == 0 and keys_help.stdout.startswith("usage: omifs keys list")
    assert "--save PATH" in keys_help.stdout and "cache_dir" not in keys_help.stdout

    status = run_omifs("status", "--help", key=None)
    assert status.returncode == 0 and "omifs refresh [--wait] [--accept-deletions] MOUNTPOINT" in status.stdout

    fuse = run_omifs("--help-fuse", key=None)
    assert fuse.returncode == 0 and "allow_other" in fuse.stdout and "subdir" not in fuse.stdout


# 3. keys create --save

def test_keys_create_save_onto_an_existing_file_creates_nothing(emulator_factory, tmp_path):
    emu = emulator_factory()
    def ids():
        return sorted(k["id"] for k in json.loads(keys(emu, "list", "--json").stdout))

    before = ids()
    target = tmp_path / "key"
    target.write_text("precious\n")
    for _ in range(2):  # a retry leaves no orphan either
        r = keys(emu, "create", "laptop", "--save", str(target))
        assert r.returncode == 1 and "no key was created" in r.stderr
        assert "omi_dev_" not in r.stdout + r.stderr
    assert target.read_text() == "precious\n"
    assert ids() == before

    r = keys(emu, "create", "laptop", "--save", str(tmp_path / "missing-dir" / "key"))
    assert r.returncode == 1 and "omi_dev_" not in r.stdout + r.stderr
    assert ids() == before


# 4. Machine-readable output and quiet runs

def test_keys_list_json_and_aligned_columns(emulator_factory):
    emu = emulator_factory()
    for name in ("a", "a much longer key name than the others"):
        assert keys(emu, "create", name).returncode == 0
    assert keys(emu, "list").returncode == 0  # gives one key a last_used_at
    r = keys(emu, "list", "--json")
    assert r.returncode == 0, r.stderr
    listed = json.loads(r.stdout)
    assert isinstance(listed, list) and {"a", "a much longer key name than the others"} <= {k["name"] for k in listed}
    table = keys(emu, "list").stdout.splitlines()
    header = table[0]
    starts = [header.index(col) for col in ("NAME", "PREFIX", "CREATED", "LAST USED")]
    for row in table[1:]:
        for s in starts:
            assert row[s - 2:s] == "  " and row[s] != " ", (row, s)
        # Timestamps to the second, the same width on every row.
        assert re.search(r"  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d  ", row), row


def test_keys_revoke_of_an_unknown_id_has_its_own_exit_code(emulator_factory):
    emu = emulator_factory()
    r = keys(emu, "revoke", "key_0000000000000000")
    assert r.returncode == 4, r
    assert "no key has the id key_0000000000000000" in r.stderr
    help_text = run_omifs("keys", "-h", key=None).stdout
    assert "4 revoke: no key has that id" in help_text


def run_sync(emu, cache_home, *args, timeout=120):
    return run_omifs("sync", *args, "-o", f"url={emu.url},transcript_batch=20", cache_home=str(cache_home),
                     timeout=timeout)


def test_sync_json_quiet_and_progress_on_stderr(emulator_factory, tmp_path):
    emu = emulator_factory(*UNLIMITED)
    r = run_sync(emu, tmp_path / "a", "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    data = emu.data()
    assert summary["result"] == "done"
    assert summary["conversations"] == summary["transcripts"] == len(data["conversations"])
    assert summary["memories"] == len(data["memories"])
    assert "transcripts:" in r.stderr and "everything is cached" in r.stderr

    r = run_sync(emu, tmp_path / "b", "-q")
    assert r.returncode == 0 and r.stdout == "" and r.stderr == ""
    r = run_sync(emu, tmp_path / "b", "--quiet", "--json")
    assert r.returncode == 0 and r.stderr == "" and json.loads(r.stdout)["result"] == "done"


def test_sync_json_prints_one_object_whatever_the_outcome(emulator_factory, tmp_path):
    emu = emulator_factory(*UNLIMITED)
    for options, key, code, result in ((f"url={emu.url}", "omi_dev_" + "0" * 32, 2, "key_refused"),
                                       ("url=http://127.0.0.1:1/v1/dev,retries=0", TEST_KEY, 3,
                                        "failed"),
                                       (f"url={emu.url}", None, 1, "failed")):
        r = run_omifs("sync", "--json", "-o", options, key=key, cache_home=str(tmp_path))
        assert r.returncode == code, r
        summary = json.loads(r.stdout)
        assert summary["result"] == result and summary["reason"], summary
        if key:
            assert key not in r.stdout + r.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="a small tmpfs for the cache needs root to mount")
def test_a_full_disk_stops_sync_with_its_own_code_and_words(emulator_factory, tmp_path):
    emu = emulator_factory(*UNLIMITED, "--conversations", "200", "--segments", "40")
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(small)],
                   check=True, timeout=10)
    try:
        r = run_omifs("sync", "--json", "-o", f"url={emu.url},cache_dir={small},page_size=20",
                      timeout=120)
        summary = json.loads(r.stdout)
    finally:
        subprocess.run(["umount", "-l", str(small)], timeout=10)
    assert r.returncode == 5, r
    assert summary["result"] == "disk_full", summary
    assert "is full" in r.stderr and "free some space and run it again" in r.stderr
    # It stopped at the first write the disk refused, not one per item.
    assert r.stderr.count("database or disk is full") <= 3, r.stderr


def test_sync_ctrl_c_says_how_far_it_got_and_exits_130(emulator_factory, mount_factory, tmp_path):
    emu = emulator_factory(*UNLIMITED, "--conversations", "120", "--latency-ms", "150")
    env = {"PATH": os.environ["PATH"], "OMI_API_KEY": TEST_KEY, "XDG_CACHE_HOME": str(tmp_path), "TZ": "UTC"}
    # A mount lists conversations into the same cache, so that the sync
    # fetches transcripts in 12 requests of 10, which Ctrl-C interrupts.
    m = mount_factory(emu.url, env={"XDG_CACHE_HOME": str(tmp_path)})
    os.listdir(m.p("conversations"))
    m.cleanup()
    returncode, out, err = interrupt_omifs(
        ["sync", "--json", "-o", f"url={emu.url},transcript_batch=10,transcript_page=10"], env,
        lambda _: emu.stats().get("transcript_requests", 0) >= 2)
    assert returncode == 130, err
    m = re.search(r"interrupted: (\d+) of (\d+) done; run again to resume", err)
    summary = json.loads(out)
    assert summary["result"] == "interrupted"
    assert m and 0 < int(m.group(1)) == summary["transcripts"] < int(m.group(2)) == summary["conversations"], err


# 5. status and refresh

def test_status_and_refresh_find_the_mount_s_process(emulator_factory, mount_factory, tmp_path):
    emu = emulator_factory(*UNLIMITED)
    m = mount_factory(emu.url)
    os.listdir(m.p("memories"))
    r = run_omifs("status", m.path, key=None)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("omifs ") and re.search(rf"^pid +{m.proc.pid}$", r.stdout, re.M)

    before = emu.requests_total()
    r = run_omifs("refresh", m.path, key=None)
    assert r.returncode == 0, r.stderr
    assert f"pid {m.proc.pid}" in r.stdout
    deadline = time.monotonic() + 20
    while emu.requests_total() == before:  # the refresh asks the server again
        assert time.monotonic() < deadline, m.log()
        time.sleep(0.1)
    assert m.proc.poll() is None

    plain = tmp_path / "plain"
    plain.mkdir()
    for command in ("status", "refresh"):
        r = run_omifs(command, str(plain), key=None)
        assert r.returncode == 4 and "not an omifs mount" in r.stderr


def test_refresh_wait_returns_when_that_refresh_is_done(emulator_factory, mount_factory):
    emu = emulator_factory(*UNLIMITED)
    m = mount_factory(emu.url, "retries=0", "timeout=5")
    os.listdir(m.p("memories"))
    emu.add("memories", {"id": "added-meanwhile", "content": "Added while mounted",
                         "category": "other", "created_at": "2025-06-01T10:00:00Z"})
    r = run_omifs("refresh", "--wait", m.path, key=None, timeout=60)
    assert r.returncode == 0, r.stderr
    # Done means done: what the refresh brought is there when it returns.
    assert "added-meanwhile.txt" in os.listdir(m.p("memories", "other"))
    assert re.search(r"^refreshes +1 asked, 1 done; the last succeeded$",
                     read(m.p(".omifs", "status")), re.M)
    emu.set_faults(error_rate=1.0)
    r = run_omifs("refresh", "--wait", m.path, key=None, timeout=60)
    assert r.returncode == 1, r
    assert re.search(r"the refresh failed: (memories|conversations|action-items): ", r.stderr), r.stderr
    emu.clear_faults()
    assert m.proc.poll() is None
    # Flags in any order: each is its own, none clears another.
    r = run_omifs("refresh", "--wait", "--accept-deletions", m.path, key=None, timeout=60)
    assert r.returncode == 0, r.stderr
    assert re.search(r"^refreshes +3 asked, 3 done; the last succeeded$",
                     read(m.p(".omifs", "status")), re.M)


# 6. Dates people can read

def test_memories_without_timestamps_keep_their_first_seen_date(emulator_factory, mount_factory, tmp_path):
    emu = emulator_factory(*UNLIMITED)  # documented: memories carry no timestamp
    assert "created_at" not in emu.get_json("/user/memories", {"limit": 1})[0]
    cache = f"cache_dir={tmp_path / 'cache'}"
    started = time.time()
    m = mount_factory(emu.url, cache)

    def dates():
        out = {}
        for category in os.listdir(m.p("memories")):
            out[category] = os.stat(m.p("memories", category)).st_mtime
            for name in os.listdir(m.p("memories", category)):
                out[f"{category}/{name}"] = os.stat(m.p("memories", category, name)).st_mtime
        return out

    first = dates()
    assert first and all(started - 2 <= t <= time.time() + 1 for t in first.values())
    m.cleanup()
    time.sleep(1.1)
    m = mount_factory(emu.url, cache)
    assert dates() == first


# 7. A second mount; offline without a key

def test_mounting_twice_names_the_running_omifs(emulator_factory, mount_factory):
    emu = emulator_factory(*UNLIMITED)
    m = mount_factory(emu.url)
    r = run_omifs("-o", f"url={emu.url}", m.path)
    assert r.returncode == 4
    assert f"already mounted (omifs, pid {m.proc.pid})" in r.stderr
    assert "not empty" not in r.stderr


def test_offline_needs_no_key_when_one_account_is_cached(emulator_factory, mount_factory, tmp_path):
    emu = emulator_factory(*UNLIMITED)
    cache = tmp_path / "cache"
    assert run_omifs("sync", "-q", "-o", f"url={emu.url},cache_dir={cache}").returncode == 0
    m = mount_factory(emu.url, f"cache_dir={cache}", "offline", key="")
    assert len(os.listdir(m.p("conversations"))) > 0
    m.cleanup()

    # Without -o url either, in daemon mode as a user would run it.
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    try:
        r = run_omifs("-o", f"offline,cache_dir={cache}", str(mnt), key=None)
        assert r.returncode == 0, r.stderr
        assert "memories" in os.listdir(mnt)
        # Its source names the cached account's server, not the default one.
        source = subprocess.run(["findmnt", "-n", "-o", "SOURCE", str(mnt)], capture_output=True,
                                text=True, timeout=10).stdout.strip()
        assert source == "omifs:127.0.0.1:" + emu.url.split(":")[2].split("/")[0], source
    finally:
        unmount(str(mnt))

    other = emu.add_key("omi_dev_" + "1" * 32)
    assert run_omifs("sync", "-q", "-o", f"url={emu.url},cache_dir={cache}", key="omi_dev_" + "1" * 32).returncode == 0, other
    r = run_omifs("-o", f"offline,cache_dir={cache}", str(mnt), key=None)
    assert r.returncode == 1 and "2 accounts are cached" in r.stderr and ".sqlite" in r.stderr
    assert not is_mounted(mnt)


# 8. df

def test_df_shows_the_cache_as_used_and_free_space_as_available(emulator_factory, mount_factory):
    emu = emulator_factory(*UNLIMITED)
    m = mount_factory(emu.url)
    before = subprocess.run(["df", "-i", m.path], capture_output=True, text=True, timeout=10).stdout
    os.listdir(m.p("memories"))
    os.listdir(m.p("action-items", "open"))
    os.listdir(m.p("conversations"))
    cache = json.loads(run_omifs("status", "--json", m.path, key=None).stdout)["cache"]
    st, disk = os.statvfs(m.path), os.statvfs(os.path.dirname(cache["path"]))
    assert st.f_bsize == st.f_frsize == 4096
    assert (st.f_blocks - st.f_bfree) * 4096 == -(-cache["bytes"] // 4096) * 4096
    assert abs(st.f_bavail * 4096 - disk.f_bavail * disk.f_frsize) < 64 << 20  # the cache's disk
    r = subprocess.run(["df", "-h", m.path], capture_output=True, text=True, timeout=10)
    fields = r.stdout.splitlines()[1].split()
    assert fields[0].startswith("omifs:127.0.0.1:") and fields[1] != "0", r.stdout
    assert fields[4] != "100%", r.stdout
    # No inode counts that move as the first listings arrive.
    after = subprocess.run(["df", "-i", m.path], capture_output=True, text=True, timeout=10).stdout
    assert before == after and after.splitlines()[1].split()[4] == "-", after


# 9. The systemd units

def test_systemd_units_verify(tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed")
    units = {}
    for name in ("omifs.service", "omifs@.service"):
        text = (REPO / "scripts" / f"{name}.in").read_text().replace("@BINDIR@", str(REPO))
        (tmp_path / name).write_text(text)
        units[name] = text
    for text in units.values():
        assert "RestartPreventExitStatus=1 2 4" in text and "Type=notify" in text
        assert "network-online" not in text
    assert "%i.key" in units["omifs@.service"] and "%h/omi-%i" in units["omifs@.service"]
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", "./omifs.service", "./omifs@work.service"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stderr.strip() == "", r.stderr


def test_type_notify_readiness_is_sent_once_mounted(emulator_factory, mount_factory, tmp_path):
    import socket
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(20)
    try:
        emu = emulator_factory(*UNLIMITED)
        m = mount_factory(emu.url, env={"NOTIFY_SOCKET": path})
        os.listdir(m.path)
        assert sock.recv(64) == b"READY=1"
    finally:
        sock.close()


# 10. README

def test_readme_links_point_at_files_in_the_repository():
    readme = (REPO / "README.md").read_text()
    for target in re.findall(r"\]\(([^)#]+)\)", readme):
        if not re.match(r"https?://", target):
            assert (REPO / target).exists(), target
    for name in re.findall(r"`((?:scripts|src|tests)/[\w./-]+)`", readme):
        assert (REPO / name).exists(), name
    first_screen = "\n".join(readme.splitlines()[:24])
    assert "make demo" in first_screen and "make check" in first_screen


def test_install_deps_without_root_prints_the_one_sudo_command(tmp_path):
    """make demo runs scripts/install-deps first: as a user, with something
    missing, it must name the command rather than fail on apt-get."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "id").write_text("#!/bin/sh\necho 1000\n")
    (fake / "dpkg-query").write_text("#!/bin/sh\nexit 1\n")  # nothing is installed
    (fake / "apt-get").write_text("#!/bin/sh\necho apt-get must not run >&2; exit 99\n")
    for tool in fake.iterdir():
        tool.chmod(0o755)
    env = {"PATH": f"{fake}:{os.environ['PATH']}"}
    r = subprocess.run([str(REPO / "scripts/install-deps")], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "apt-get must not run" not in r.stderr
    assert f"sudo {REPO}/scripts/install-deps" in r.stderr and "libfuse3-dev" in r.stderr
    (fake / "dpkg-query").write_text("#!/bin/sh\necho 'install ok installed'\n")
    r = subprocess.run([str(REPO / "scripts/install-deps")], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "everything is installed" in r.stdout


# 11. bash completion

def complete(*words):
    script = f"""source {REPO}/scripts/omifs.bash-completion
COMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}
_omifs; printf '%s\\n' "${{COMPREPLY[@]}}" """
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    return set(r.stdout.split())


def complete_line(line):
    """As bash calls it: COMP_WORDS split at ':' too, COMP_LINE whole."""
    words = re.findall(r"[^\s:]+|:", line) + ([""] if line.endswith(" ") else [])
    script = f"""source {REPO}/scripts/omifs.bash-completion
COMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}
COMP_LINE={line!r}; COMP_POINT={len(line)}
_omifs; printf '%s\\n' "${{COMPREPLY[@]}}" """
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    return set(r.stdout.split())


def test_bash_completion_keeps_a_url_s_colon_in_its_word():
    # Bash puts back only what follows the last ':': "//x:8080/v1,cache_dir=".
    assert complete_line("omifs -o url=https://x:8080/v1,cach") == {"8080/v1,cache_dir="}
    assert complete_line("omifs -o url=https://x,api_profile=b") == {"//x,api_profile=backend"}
    assert complete_line("omifs -o offl") == {"offline"}


def test_bash_completion_and_its_installation(tmp_path):
    assert {"sync", "status"} <= complete("omifs", "s")
    assert complete("omifs", "keys", "") >= {"list", "create", "revoke"}
    assert complete("omifs", "keys", "list", "--j") == {"--json"}
    assert complete("omifs", "sync", "-") >= {"-q", "--json", "--check", "-o"}
    assert {"--accept-deletions", "--wait"} <= complete("omifs", "refresh", "-")
    assert "--accept-deletions" not in complete("omifs", "status", "-")
    assert {"--json", "--metrics"} <= complete("omifs", "status", "-")
    assert complete("omifs", "cache", "") >= {"list", "remove"}
    assert complete("omifs", "cache", "list", "--j") == {"--json"}
    assert {"log_file=", "fuse_debug"} <= complete("omifs", "-o", "")
    assert {"--kind", "--since", "--until", "--speaker", "--fts"} <= complete("omifs", "search", "-")
    assert complete("omifs", "search", "--kind", "m") == {"memory"}
    assert "accept_shrink" in complete("omifs", "-o", "acc")
    assert complete("omifs", "-o", "url=x,cache_") == {"url=x,cache_dir="}
    assert complete("omifs", "-o", "api_profile=b") == {"api_profile=backend"}
    assert {"allow_other", "offline", "transcript_batch="} <= complete("omifs", "-o", "")

    dest = tmp_path / "root"
    r = subprocess.run(["make", "-C", str(REPO), f"DESTDIR={dest}", "PREFIX=/usr", "install"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert (dest / "usr/share/bash-completion/completions/omifs").is_file()
    assert "ExecStart=/usr/bin/omifs -f" in (dest / "usr/lib/systemd/user/omifs@.service").read_text()
    # Uninstalled, nothing is left: neither files nor the directories made
    # for them; a directory that holds something else stays.
    (dest / "usr/share/man/keep").mkdir(parents=True)
    r = subprocess.run(["make", "-C", str(REPO), f"DESTDIR={dest}", "PREFIX=/usr", "uninstall"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    left = sorted(str(p.relative_to(dest)) for p in dest.rglob("*"))
    assert left == ["usr", "usr/share", "usr/share/man", "usr/share/man/keep"], left


def test_commands_that_read_the_cache_leave_a_missing_one_missing(emulator_factory, tmp_path):
    """search, changes and cache list only read: a cache directory that
    does not exist is reported empty, not made."""
    home = tmp_path / "cache-home"
    for args, code, said in [(["search", "quokka"], 2, "nothing is cached"),
                             (["changes"], 1, "nothing is cached"),
                             (["cache", "list"], 0, "no account is cached")]:
        r = run_omifs(*args, "-o", "url=http://127.0.0.1:9", cache_home=str(home))
        assert r.returncode == code and said in r.stdout + r.stderr, (args, r)
        assert not home.exists(), args
    # Without a key, the one account cached is looked for: there is none.
    for args in (["search", "quokka"], ["mcp"]):
        r = run_omifs(*args, key=None, cache_home=str(home))
        assert r.returncode != 0 and "no account is cached" in r.stderr, (args, r)
        assert not home.exists(), args
    # A command that fills the cache does make it, private.
    emu = emulator_factory(*UNLIMITED)
    r = run_omifs("sync", "-q", "-o", f"url={emu.url}", cache_home=str(home), timeout=120)
    assert r.returncode == 0 and (home / "omifs").is_dir(), r
    assert (home / "omifs").stat().st_mode & 0o777 == 0o700
