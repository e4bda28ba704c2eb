"""Mount omifs for real, with a timeout, and always unmount.

    with Mount(emu.url, "ttl=2") as m:
        os.listdir(m.path)

omifs runs in the foreground (-f) as our child, so the test owns its
process: stop() unmounts (fusermount3 -u, then -uz), waits for the process
with a timeout and kills it if it lingers. Nothing is left behind, even
when the test fails.
"""

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# make check-tsan points this at a ThreadSanitizer build.
OMIFS = os.environ.get("OMIFS_BINARY") or str(REPO / "omifs")

from emulator import TEST_KEY  # noqa: E402  (conftest puts helpers on sys.path)


def is_mounted(path):
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == path and " - fuse" in line:
                return True
    return False


def unmount(path, timeout=10):
    """Unmounts path if mounted: politely, then lazily."""
    for args in (["fusermount3", "-u", path], ["fusermount3", "-uz", path]):
        if not is_mounted(path):
            return
        subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout)


# The sanitizer builds' settings (make check-asan, check-tsan) reach omifs.
SANITIZER_ENV = ("ASAN_OPTIONS", "LSAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS")


def base_env(**extra):
    """omifs's environment: a plain PATH, the sanitizer settings, and extra."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    env.update({k: os.environ[k] for k in SANITIZER_ENV if k in os.environ})
    env.update(extra)
    return env


def run_omifs(*args, key=TEST_KEY, env=None, timeout=30, cache_home=None):
    """Runs omifs to completion (for the commands and failures that exit).
    Its disk cache goes under cache_home (default: a directory in /tmp that
    this process owns for its life)."""
    full_env = base_env(TZ="UTC", XDG_CACHE_HOME=cache_home or _scratch_cache_home())
    if key is not None:
        full_env["OMI_API_KEY"] = key
    full_env.update(env or {})
    return subprocess.run([OMIFS, *args], env=full_env, capture_output=True, text=True, timeout=timeout)


def interrupt_omifs(args, env, until, timeout=60):
    """Runs omifs with args and env, sends it SIGINT once until(stderr so
    far) holds (polled for at most timeout seconds; the process must not
    end first), and returns (returncode, stdout, stderr). No process is
    left behind."""
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([OMIFS, *args], env=env, stdout=subprocess.PIPE, stderr=err,
                                text=True)
        try:
            deadline = time.monotonic() + timeout

            def stderr_so_far():
                err.seek(0)
                return err.read()

            while not until(stderr_so_far()):
                assert time.monotonic() < deadline and proc.poll() is None, stderr_so_far()
                time.sleep(0.05)
            proc.send_signal(signal.SIGINT)
            out, _ = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        return proc.returncode, out, stderr_so_far()


_scratch = []


def _scratch_cache_home():
    if not _scratch:
        _scratch.append(tempfile.TemporaryDirectory(prefix="omifs-cache-"))
    return _scratch[0].name


class Mount:
    def __init__(self, url, *options, key=TEST_KEY, tz="UTC", env=None, mount_timeout=30, extra_args=(),
                 path=None):
        self.url = url
        self.options = ["url=" + url, *options]
        self.key = key
        self.tz = tz
        self.env = env or {}
        self.mount_timeout = mount_timeout
        self.extra_args = list(extra_args)
        self.dir = tempfile.mkdtemp(prefix="omifs-test-")
        # path: mount on an existing directory (another mount's, say)
        self.path = path or os.path.join(self.dir, "mnt")
        if not path:
            os.mkdir(self.path)
        self.log_path = os.path.join(self.dir, "omifs.log")
        self.proc = None

    def start(self):
        env = base_env(TZ=self.tz, OMI_API_KEY=self.key, XDG_CACHE_HOME=os.path.join(self.dir, "cache"))
        env.update(self.env)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [OMIFS, "-f", "-o", ",".join(self.options), *self.extra_args, self.path],
                env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.mount_timeout
        while not is_mounted(self.path):
            if self.proc.poll() is not None:
                raise RuntimeError(f"omifs exited with {self.proc.returncode}: {self.log()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"omifs did not mount within {self.mount_timeout} s: {self.log()}")
            time.sleep(0.05)
        return self

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.proc is None:
            return
        unmount(self.path)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)
            unmount(self.path)
        self.proc = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()

    def p(self, *parts):
        return os.path.join(self.path, *parts)
