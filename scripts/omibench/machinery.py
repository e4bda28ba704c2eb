"""The bench's machinery: the processes it starts and how it stops them.

The emulator (scripts/omi-emulator, run as an executable path) and its
admin API, omifs mounts in the foreground and their memory, run() for a
tool with a timeout, the Cleanup stack that undoes all of it on exit,
errors and signals, and the small helpers the workloads share.  Shared by
scripts/bench, scripts/bench-search and scripts/bench-heavy; standard
library only.
"""

import json
import os
import re
import selectors
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OMIFS = REPO / "omifs"
EMULATOR = REPO / "scripts" / "omi-emulator"
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
KEY = "omi_dev_" + os.urandom(16).hex()
PAGE = 1000                      # the documented profile's largest page, every collection
# The largest page of conversations each dialect serves, with transcripts
# and without (the backend clamps silently).
TRANSCRIPT_PAGE = {"documented": 1000, "backend": 25}
LISTING_PAGE = {"documented": 1000, "backend": 100}
KINDS = (("conversations", "/user/conversations", "include_transcript=true&"),
         ("memories", "/user/memories", ""),
         ("action-items", "/user/action-items", ""))

# The tools run with a fixed, plain environment on both sides.
TOOL_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LC_ALL": "C", "TZ": "UTC", "HOME": "/nonexistent"}
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))   # never a proxy


class BenchError(Exception):
    pass


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


def median(xs):
    return statistics.median(xs) if xs else None


# --------------------------------------------------------------------------- cleanup
class Cleanup:
    """Things to undo, newest first; run() is idempotent."""

    def __init__(self):
        self.actions = []

    def push(self, fn):
        self.actions.append(fn)
        return fn

    def remove(self, fn):
        if fn in self.actions:
            self.actions.remove(fn)

    def run(self):
        while self.actions:
            fn = self.actions.pop()
            try:
                fn()
            except BaseException as e:          # keep cleaning whatever happens
                log("cleanup: %r" % (e,))


CLEANUP = Cleanup()


def on_signal(signum, frame):
    raise SystemExit(128 + signum)


def catch_signals():
    """Ctrl-C raises KeyboardInterrupt, SIGTERM and SIGHUP SystemExit, so
    that the Cleanup stack runs whichever stops the bench."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)


# --------------------------------------------------------------------------- processes
def stop_process(proc, timeout=10):
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


def run(cmd, timeout, cwd=None, env=None, shell=False, check=True):
    """Runs a tool to completion; returns (seconds, CompletedProcess)."""
    t0 = time.monotonic()
    try:
        cp = subprocess.run(cmd, cwd=cwd, env=env or TOOL_ENV, shell=shell, timeout=timeout,
                            stdin=subprocess.DEVNULL, capture_output=True, start_new_session=True,
                            executable="/bin/bash" if shell else None)
    except subprocess.TimeoutExpired:
        raise BenchError("timed out after %s s: %s" % (timeout, cmd))
    dt = time.monotonic() - t0
    if check and cp.returncode != 0:
        raise BenchError("%s exited %d: %s" % (cmd, cp.returncode,
                                               cp.stderr.decode("utf-8", "replace")[-2000:]))
    return dt, cp


class Emulator:
    """scripts/omi-emulator as the bench's child, on a free port of
    127.0.0.1; its admin API counts the requests, and its log lists them."""

    def __init__(self, workdir, args, start_timeout):
        self.args = [str(a) for a in args]
        self.start_timeout = start_timeout
        self.stderr_path = os.path.join(workdir, "emulator-%d.log" % id(self))
        self.requests_path = os.path.join(workdir, "emulator-%d.jsonl" % id(self))
        self.mark = 0
        self.mark_time = time.time()
        self.proc = None
        self.url = None

    def start(self):
        cmd = [PYTHON, str(EMULATOR), "--host", "127.0.0.1", "--port", "0", "--key", KEY,
               "--log", self.requests_path] + self.args
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=err, start_new_session=True)
        CLEANUP.push(self.stop)
        line = self._first_line()
        if not line.startswith("http://127.0.0.1:"):
            raise BenchError("the emulator did not start (%r): %s" % (line, self.stderr()[-2000:]))
        self.url = line
        self.admin = line[: -len("/v1/dev")] + "/_emulator"
        return self

    def _first_line(self):
        deadline = time.monotonic() + self.start_timeout
        buf = b""
        fd = self.proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BenchError("the emulator printed no URL within %s s" % self.start_timeout)
                if not sel.select(min(left, 0.5)):
                    if self.proc.poll() is not None:
                        break
                    continue
                chunk = os.read(fd, 4096)
                if not chunk:
                    break
                buf += chunk
        return buf.split(b"\n", 1)[0].decode("utf-8", "replace").strip()

    def stderr(self):
        try:
            with open(self.stderr_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        proc, self.proc = self.proc, None
        if proc is not None:
            stop_process(proc)
            proc.stdout.close()
        CLEANUP.remove(self.stop)

    def _admin(self, method, sub, payload=None):
        data = json.dumps(payload).encode() if payload is not None else b"" if method == "POST" else None
        req = urllib.request.Request(self.admin + sub, method=method, data=data,
                                     headers={"Content-Type": "application/json"})
        with _OPENER.open(req, timeout=60) as resp:
            return json.loads(resp.read() or b"null")

    def add(self, kind, obj):
        """Adds obj (a dict) to the account's kind, as the admin API does."""
        return self._admin("POST", "/" + kind, obj)

    def info(self):
        return self._admin("GET", "/info")

    def stats(self):
        return self._admin("GET", "/stats")

    def reset_stats(self):
        self._admin("POST", "/stats/reset")
        self.mark = os.path.getsize(self.requests_path) if os.path.exists(self.requests_path) else 0
        self.mark_time = time.time()

    def log_since_reset(self):
        """The API requests since reset_stats(), as "GET /path?query -> status" lines."""
        out = []
        try:
            with open(self.requests_path, "rb") as f:
                f.seek(self.mark)
                for line in f.read().decode("utf-8", "replace").splitlines():
                    try:
                        r = json.loads(line)
                    except ValueError:
                        continue
                    q = r.get("query") or ""
                    if isinstance(q, dict):
                        q = "&".join("%s=%s" % kv for kv in q.items())
                    out.append("+%.2fs %s %s%s -> %s (%s bytes, %s ms)" % (
                               (r.get("t") or 0) - self.mark_time, r.get("method"), r.get("path"),
                               "?" + q if q else "", r.get("status"), r.get("bytes"), r.get("ms")))
        except OSError:
            pass
        return out

    def requests(self):
        return self.stats()["total"]


def is_mounted(path):
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if len(fields) > 4 and fields[4] == path and " - fuse" in line:
                return True
    return False


def unmount(path):
    for args in (["fusermount3", "-u", path], ["fusermount3", "-uz", path]):
        if not is_mounted(path):
            return
        try:
            subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=15)
        except subprocess.TimeoutExpired:
            pass
        if is_mounted(path):
            time.sleep(0.5)


class UnknownOption(BenchError):
    """omifs refused an -o option (an older build): the caller may retry without it."""


class Mount:
    """omifs -f on a new directory of the workdir, with the bench's key."""

    def __init__(self, workdir, name, url, options, mount_timeout=60):
        self.path = os.path.join(workdir, name)
        os.mkdir(self.path)
        self.log_path = os.path.join(workdir, name + ".log")
        self.options = ["url=" + url] + list(options)
        self.mount_timeout = mount_timeout
        self.proc = None
        self.started = None
        self.mounted_after = None

    def start(self):
        env = dict(TOOL_ENV, OMI_API_KEY=KEY)
        self.started = time.monotonic()
        with open(self.log_path, "wb") as logf:
            self.proc = subprocess.Popen([str(OMIFS), "-f", "-o", ",".join(self.options), self.path],
                                         env=env, stdin=subprocess.DEVNULL, stdout=logf,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        CLEANUP.push(self.stop)
        deadline = self.started + self.mount_timeout
        while not is_mounted(self.path):
            if self.proc.poll() is not None:
                text = self.log()
                self.stop()
                if re.search(r"unknown option|invalid option|unrecognized", text, re.I):
                    raise UnknownOption(text.strip())
                raise BenchError("omifs exited with %s before mounting: %s" % (self.proc_rc, text[-2000:]))
            if time.monotonic() > deadline:
                self.stop()
                raise BenchError("omifs did not mount within %s s: %s" % (self.mount_timeout, self.log()[-2000:]))
            time.sleep(0.01)
        self.mounted_after = time.monotonic() - self.started
        return self

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def memory(self):
        """(VmHWM, VmRSS) in KiB of the omifs process."""
        out = {}
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmHWM", "VmRSS"):
                    out[k] = int(v.split()[0])
        return out.get("VmHWM"), out.get("VmRSS")

    def stop(self):
        proc, self.proc = self.proc, None
        self.proc_rc = None
        if proc is not None:
            unmount(self.path)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=20)
                unmount(self.path)
            self.proc_rc = proc.returncode
        if is_mounted(self.path):
            unmount(self.path)
        CLEANUP.remove(self.stop)
        try:
            os.rmdir(self.path)
        except OSError:
            pass


# --------------------------------------------------------------------------- helpers
def min_requests(n, page=PAGE):
    """Full pages, the short page (if any), and the empty page proving the end."""
    return n // page + (1 if n % page else 0) + 1


def private_dir(path):
    """A cache directory as omifs wants it: readable by us only."""
    os.mkdir(path, 0o700)
    os.chmod(path, 0o700)


def rm_tree(path):
    shutil.rmtree(path, ignore_errors=True)


def count_files(root):
    n = size = 0
    for dirpath, dirs, files in os.walk(root):
        for f in files:
            n += 1
            size += os.lstat(os.path.join(dirpath, f)).st_size
    return n, size


def pick_phrase(root):
    """Three words from the middle of one transcript of the local copy."""
    conv = os.path.join(root, "conversations")
    for day in sorted(os.listdir(conv)):
        for cid in sorted(os.listdir(os.path.join(conv, day))):
            p = os.path.join(conv, day, cid, "transcript.txt")
            try:
                with open(p, encoding="utf-8", errors="replace") as f:
                    lines = [l for l in f.read().splitlines() if ": " in l]
            except OSError:
                continue
            for line in lines[len(lines) // 2:]:
                words = [w for w in line.split(": ", 1)[1].split() if w.isalpha() and len(w) > 2]
                if len(words) >= 3:
                    return " ".join(words[:3])
    return "the"


def omifs_commit():
    """git describe of the tree the bench runs from, or None."""
    try:
        return subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        return None
