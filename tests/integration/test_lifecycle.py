"""Mounting and unmounting: keys, failures before the mount, processes."""

import errno
import json
import os
import stat
import subprocess
import time

import pytest

from emulator import TEST_KEY, UNLIMITED
from mount import is_mounted, run_omifs, unmount


def test_bad_key_is_one_clear_line_and_exit_2(emulator_factory, tmp_path):
    emu = emulator_factory()
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = run_omifs("-o", f"url={emu.url}", str(mnt), key="omi_dev_" + "f" * 32)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1
    assert "refused the API key" in r.stderr and "401" in r.stderr
    assert "f" * 32 not in r.stderr + r.stdout
    assert not is_mounted(mnt)


def test_dead_server_is_one_clear_line_and_exit_3(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    # A port nobody listens on: bind one, then close it.
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    r = run_omifs("-o", f"url=http://127.0.0.1:{port}/v1/dev,connect_timeout=2", str(mnt))
    assert r.returncode == 3
    assert len(r.stderr.strip().splitlines()) == 1
    assert "cannot reach" in r.stderr
    assert not is_mounted(mnt)


def test_non_empty_mountpoint_is_refused(emulator_factory, tmp_path):
    emu = emulator_factory()
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    (mnt / "precious").write_text("keep me")
    r = run_omifs("-o", f"url={emu.url}", str(mnt))
    assert r.returncode == 4
    assert "not empty" in r.stderr
    assert (mnt / "precious").read_text() == "keep me"
    assert not is_mounted(mnt)


def test_missing_key_and_key_on_command_line(emulator_factory, tmp_path):
    emu = emulator_factory()
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = run_omifs("-o", f"url={emu.url}", str(mnt), key=None)
    assert r.returncode == 1 and "OMI_API_KEY" in r.stderr
    r = run_omifs("-o", f"url={emu.url},key={TEST_KEY}", str(mnt), key=None)
    assert r.returncode == 1 and "never taken from the command line" in r.stderr
    assert TEST_KEY not in r.stderr
    assert not is_mounted(mnt)


def test_key_file_must_be_private(emulator_factory, mount_factory, tmp_path):
    emu = emulator_factory()
    key_file = tmp_path / "key"
    key_file.write_text(TEST_KEY + "\n")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    for mode in (0o644, 0o640, 0o604):
        os.chmod(key_file, mode)
        r = run_omifs("-o", f"url={emu.url},key_file={key_file}", str(mnt), key=None)
        assert r.returncode == 1 and "chmod 600" in r.stderr, oct(mode)
    os.chmod(key_file, 0o600)
    m = mount_factory(emu.url, f"key_file={key_file}", key="")
    assert "memories" in os.listdir(m.path)


def test_daemon_mode_returns_and_unmount_leaves_no_process(emulator_factory, tmp_path):
    emu = emulator_factory()
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    try:
        r = run_omifs("-o", f"url={emu.url}", str(mnt))
        assert r.returncode == 0, r.stderr
        assert is_mounted(mnt)
        assert "memories" in os.listdir(mnt)
        mounts = open("/proc/self/mounts").read()
        # The source names the server, so two accounts tell apart in df.
        host = emu.url.split("/")[2]
        assert f"omifs:{host} {mnt} fuse.omifs ro," in mounts
        pids = subprocess.run(["pgrep", "-f", f"omifs .*{mnt}"], capture_output=True, text=True).stdout.split()
        assert len(pids) == 1
        # The key must not be in the daemon's environment.
        with open(f"/proc/{pids[0]}/environ", "rb") as f:
            assert TEST_KEY.encode() not in f.read()
    finally:
        unmount(str(mnt))
    deadline = time.monotonic() + 15
    while subprocess.run(["pgrep", "-f", f"omifs .*{mnt}"], capture_output=True).returncode == 0:
        assert time.monotonic() < deadline, "omifs still running after unmount"
        time.sleep(0.1)
    assert not is_mounted(mnt)


def test_local_day_follows_tz(emulator_factory, mount_factory):
    import reference
    emu = emulator_factory(*UNLIMITED)
    data = emu.data()

    def days(m):
        return {conv: day for day in os.listdir(m.p("conversations"))
                for conv in os.listdir(m.p("conversations", day))}

    in_utc = days(mount_factory(emu.url))
    # A POSIX TZ string, 5:30 east of UTC: needs no zone database.
    in_india = days(mount_factory(emu.url, tz="IST-05:30"))
    for offset, found in ((0, in_utc), (19800, in_india)):
        assert found == {c["id"]: reference.local_day(reference.parse_time(c["created_at"]), offset)
                         for c in data["conversations"]}
    assert in_utc != in_india  # the generator puts conversations near midnight


def test_mtimes_and_inodes_are_the_same_on_a_second_mount(emulator_factory, mount_factory, tmp_path):
    emu = emulator_factory(*UNLIMITED)
    # The same cache, as for any user: it keeps the first-seen dates of
    # memories that have none of their own.
    cache = f"cache_dir={tmp_path / 'cache'}"

    def snapshot(m):
        out = {}
        for dirpath, _, files in os.walk(m.path):
            for name in files:
                full = os.path.join(dirpath, name)
                st = os.stat(full)
                out[os.path.relpath(full, m.path)] = (st.st_ino, st.st_mtime, st.st_size, stat.S_IMODE(st.st_mode))
        return {rel: v for rel, v in out.items() if not rel.startswith(".omifs/")}

    first = mount_factory(emu.url, cache)
    a = snapshot(first)
    first.cleanup()
    b = snapshot(mount_factory(emu.url, cache))
    assert a == b
    assert all(mode == 0o444 for _, _, _, mode in a.values())


def test_redirects_are_not_followed_and_the_key_goes_nowhere_else(tmp_path):
    import http.server
    import threading

    seen = []

    class Elsewhere(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"[]")

        def log_message(self, *args):
            pass

    other = http.server.ThreadingHTTPServer(("127.0.0.2", 0), Elsewhere)

    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.2:{other.server_port}{self.path}")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    first = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    servers = [first, other]
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    try:
        mnt = tmp_path / "mnt"
        mnt.mkdir()
        r = run_omifs("-o", f"url=http://127.0.0.1:{first.server_port}/v1/dev", str(mnt))
        assert r.returncode == 3 and "redirects are not followed" in r.stderr
        assert seen == []
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()


def test_file_descriptors_and_threads_do_not_grow_with_use(emulator_factory, mount_factory):
    emu = emulator_factory(*UNLIMITED)
    m = mount_factory(emu.url, "ttl=1", "refresh=1")

    def use():
        for dirpath, _, files in os.walk(m.path):
            for name in files:
                with open(os.path.join(dirpath, name), "rb") as f:
                    f.read()

    def counts():
        fds = len(os.listdir(f"/proc/{m.proc.pid}/fd"))
        threads = int(next(line.split()[1] for line in open(f"/proc/{m.proc.pid}/status")
                           if line.startswith("Threads:")))
        return fds, threads

    use()
    fds, threads = counts()
    for _ in range(5):
        use()
        time.sleep(0.3)
    fds_after, threads_after = counts()
    assert fds_after <= fds + 2, (fds, fds_after)
    # libfuse keeps at most 10 idle worker threads (max_idle_threads).
    assert threads_after <= max(threads, 16), (threads, threads_after)


def test_a_2xx_without_a_list_is_an_error_not_a_crash(mount_factory):
    """A server that answers 204 (or 201) to a listing: the key check passes,
    the listing fails cleanly with EIO, omifs stays up."""
    import errno
    import http.server
    import threading

    class NoContent(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(204 if "memories" in self.path else 201)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NoContent)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        m = mount_factory(f"http://127.0.0.1:{server.server_port}/v1/dev", "retries=0")
        for collection in ("memories", "conversations"):
            try:
                os.listdir(m.p(collection))
                raise AssertionError("a listing without a list was accepted")
            except OSError as e:
                assert e.errno == errno.EIO
        assert m.proc.poll() is None, m.log()
    finally:
        server.shutdown()
        server.server_close()


def test_a_mount_left_dead_by_kill_9_is_cleared_by_the_next_mount(emulator_factory, mount_factory):
    emu = emulator_factory(*UNLIMITED)
    m = mount_factory(emu.url)
    assert "memories" in os.listdir(m.path)
    m.proc.kill()
    m.proc.wait(timeout=15)
    m.proc = None
    try:
        # What reaches the dead server fails; a listing may still come
        # from the kernel's cache, so the next mount must not rely on it.
        with pytest.raises(OSError) as e:
            os.statvfs(m.path)
        assert e.value.errno == errno.ENOTCONN
        # A dead mount counts as mounted: wait for the new one to answer.
        again = mount_factory(emu.url, path=m.path)
        deadline = time.monotonic() + 20
        while "cleared the dead omifs mount" not in again.log() or not os.path.isdir(again.p("memories")):
            assert time.monotonic() < deadline and again.proc.poll() is None, again.log()
            time.sleep(0.1)
        assert "memories" in os.listdir(again.path)
    finally:
        unmount(m.path)


def test_the_default_key_file_is_the_key_when_nothing_else_names_one(emulator_factory,
                                                                    mount_factory, tmp_path):
    emu = emulator_factory()
    home = tmp_path / "home"
    (home / ".config" / "omifs").mkdir(parents=True)
    key_file = home / ".config" / "omifs" / "key"
    key_file.write_text("  " + TEST_KEY + " \n")  # spaces around it are no part of it
    os.chmod(key_file, 0o600)
    # As the README writes it: no OMI_API_KEY, no -o key_file.
    r = run_omifs("keys", "list", "--json", "-o", f"url={emu.url}", key=None,
                  env={"HOME": str(home)})
    assert r.returncode == 0, r.stderr
    assert isinstance(json.loads(r.stdout), list)
    m = mount_factory(emu.url, key="", env={"HOME": str(home)})
    assert "memories" in os.listdir(m.path)
    # $XDG_CONFIG_HOME moves it, as it moves every configuration.
    r = run_omifs("keys", "list", "-o", f"url={emu.url}", key=None,
                  env={"HOME": str(home), "XDG_CONFIG_HOME": str(tmp_path / "elsewhere")})
    assert r.returncode == 1 and "no API key" in r.stderr
    os.chmod(key_file, 0o644)
    r = run_omifs("keys", "list", "-o", f"url={emu.url}", key=None, env={"HOME": str(home)})
    assert r.returncode == 1 and "chmod 600" in r.stderr


def test_a_key_file_that_is_a_fifo_is_refused_not_waited_on(emulator_factory, tmp_path):
    emu = emulator_factory()
    fifo = tmp_path / "key"
    os.mkfifo(fifo, 0o600)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = run_omifs("-o", f"url={emu.url},key_file={fifo}", str(mnt), key=None, timeout=10)
    assert r.returncode == 1 and "regular file" in r.stderr
    assert not is_mounted(mnt)


def test_a_failed_mount_leaves_no_cache_behind(emulator_factory, mount_factory, tmp_path):
    """A cache is made once the key is accepted: a wrong key or URL leaves
    no file that later commands would take for a cached account."""
    emu = emulator_factory()
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    caches = tmp_path / "caches"
    for options, key, code in ((f"url={emu.url}", "omi_dev_" + "1" * 32, 2),
                               ("url=http://127.0.0.1:1/v1/dev,retries=0", TEST_KEY, 3)):
        r = run_omifs("-o", options, str(mnt), key=key, cache_home=str(caches))
        assert r.returncode == code, r
        assert not is_mounted(mnt)
    assert not list(caches.rglob("*.sqlite")), list(caches.rglob("*"))
    # The one account that mounted is then the one an offline command finds.
    m = mount_factory(emu.url, env={"XDG_CACHE_HOME": str(caches)})
    os.listdir(m.p("memories"))
    m.cleanup()
    r = run_omifs("search", "--limit", "1", "the", key=None, cache_home=str(caches))
    assert r.returncode in (0, 1), r.stderr
    assert "accounts are cached" not in r.stderr


def test_a_shared_cache_directory_is_refused_without_suggesting_its_chmod(emulator_factory,
                                                                         tmp_path):
    emu = emulator_factory()
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = run_omifs("-o", f"url={emu.url},cache_dir=/tmp", str(mnt))
    assert r.returncode == 1, r
    assert "a private directory of your own" in r.stderr and "chmod 700 /tmp" not in r.stderr
    own = tmp_path / "open"
    own.mkdir(mode=0o755)
    os.chmod(own, 0o755)
    r = run_omifs("-o", f"url={emu.url},cache_dir={own}", str(mnt))
    assert r.returncode == 1 and f"chmod 700 {own}" in r.stderr, r
    assert not is_mounted(mnt)
