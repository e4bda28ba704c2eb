"""Launch and talk to scripts/omi-emulator from tests (standard library only).

    from emulator import Emulator, TEST_KEY
    with Emulator("--conversations", "10", profile="backend") as emu:
        status, headers, body = emu.api("GET", "/user/memories", {"limit": 5})
        convs = emu.list_all("/user/conversations", page=10)

Every network call has a timeout; stop() is idempotent and always reaps the
process (SIGTERM, then SIGKILL).  `headers` are case-insensitive.
"""

import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EMULATOR = REPO / "scripts" / "omi-emulator"
TEST_KEY = "omi_dev_" + "0123456789abcdef" * 2
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
KINDS = ("conversations", "memories", "action-items", "goals")
# Extra arguments that lift every rate limit (for tests that are not about limits).
UNLIMITED = ["--limit", "minute=1000000", "--limit", "day=1000000", "--limit", "memories=1000000",
             "--limit", "action_items=1000000", "--limit", "conversations=1000000",
             "--limit", "conversation=1000000", "--limit", "transcripts=1000000"]
_DEFAULT = object()

# Never go through a proxy: everything is on 127.0.0.1.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class EmulatorError(Exception):
    pass


class Headers(dict):
    """A dict of response headers with case-insensitive look-ups."""

    def __init__(self, pairs=()):
        super().__init__()
        for k, v in pairs:
            self[k] = v

    def __setitem__(self, k, v):
        super().__setitem__(k.lower(), v)

    def __getitem__(self, k):
        return super().__getitem__(k.lower())

    def __contains__(self, k):
        return super().__contains__(k.lower())

    def get(self, k, default=None):
        return super().get(k.lower(), default)


def _quote(id_):
    return urllib.parse.quote(id_, safe="")


class Emulator:
    def __init__(self, *extra_args, profile="documented", key=TEST_KEY, seed=1, start_timeout=30):
        self.extra_args = [str(a) for a in extra_args]
        self.profile = profile
        self.key = key
        self.seed = seed
        self.start_timeout = start_timeout
        self.proc = None
        self.url = None
        self.admin_url = None
        self.port = None
        self._stderr = None

    # -- process ------------------------------------------------------------------
    def command(self):
        cmd = [PYTHON, str(EMULATOR), "--port", "0", "--profile", self.profile, "--seed", str(self.seed)]
        if self.key:
            cmd += ["--key", self.key]
        return cmd + self.extra_args

    def start(self):
        if self.proc is not None:
            return self
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self._stderr)
        try:
            line = self._read_line(self.start_timeout)
        except BaseException:
            self.stop()
            raise
        if not line.startswith("http://"):
            err = self.stderr_text()
            self.stop()
            raise EmulatorError("emulator did not start (first line %r); stderr:\n%s" % (line, err))
        self.url = line
        self.admin_url = line[: -len("/v1/dev")] + "/_emulator"
        self.port = int(urllib.parse.urlsplit(line).port)
        return self

    def _read_line(self, timeout):
        deadline = time.monotonic() + timeout
        buf = b""
        fd = self.proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise EmulatorError("emulator printed no URL within %ss" % timeout)
                if not sel.select(min(left, 0.5)):
                    if self.proc.poll() is not None:
                        break
                    continue
                chunk = os.read(fd, 4096)
                if not chunk:
                    break
                buf += chunk
        return buf.split(b"\n", 1)[0].decode("utf-8", "replace").strip()

    def stop(self):
        proc, self.proc = self.proc, None
        if proc is not None:
            if proc.poll() is None:
                try:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
            self.returncode = proc.returncode
            if proc.stdout:
                proc.stdout.close()
        return getattr(self, "returncode", None)

    def stderr_text(self):
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- HTTP -----------------------------------------------------------------------
    def _request(self, method, url, body=None, headers=None, timeout=10):
        data = None
        headers = dict(headers or {})
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
            headers.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with _OPENER.open(req, timeout=timeout) as resp:
                return resp.status, Headers(resp.getheaders()), resp.read()
        except urllib.error.HTTPError as e:
            with e:
                return e.code, Headers(e.headers.items()), e.read()

    def api(self, method, path, query=None, key=_DEFAULT, body=None, timeout=10):
        """One API request; returns (status, headers, body bytes).  Network errors propagate."""
        key = self.key if key is _DEFAULT else key
        url = self.url + path
        if query:
            url += "?" + (query if isinstance(query, str) else urllib.parse.urlencode(query))
        headers = {"Authorization": "Bearer " + key} if key else {}
        return self._request(method, url, body, headers, timeout)

    def get_json(self, path, query=None, expect=200, **kw):
        status, headers, body = self.api("GET", path, query, **kw)
        if expect is not None and status != expect:
            raise EmulatorError("GET %s %r -> %s: %r" % (path, query, status, body[:300]))
        return json.loads(body)

    def list_all(self, path, query=None, page=None, max_pages=500):
        """Page with offset += received until an empty page; returns every item received."""
        out = []
        offset = 0
        for _ in range(max_pages):
            q = dict(query or {})
            q["offset"] = offset
            if page is not None:
                q["limit"] = page
            got = self.get_json(path, q)
            if not isinstance(got, list):
                raise EmulatorError("expected a list from %s, got %r" % (path, type(got)))
            if not got:
                return out
            out.extend(got)
            offset += len(got)
        raise EmulatorError("more than %d pages from %s" % (max_pages, path))

    # -- admin ------------------------------------------------------------------------
    def admin(self, method, sub, body=None, query=None, timeout=10):
        url = self.admin_url + sub
        if query:
            url += "?" + urllib.parse.urlencode(query)
        status, headers, raw = self._request(method, url, body, None, timeout)
        if status >= 400:
            raise EmulatorError("%s %s -> %s: %r" % (method, sub, status, raw[:300]))
        return json.loads(raw) if raw else None

    def info(self):
        return self.admin("GET", "/info")

    def data(self, all=False):
        return self.admin("GET", "/data", query={"all": "1"} if all else None)

    def stats(self):
        return self.admin("GET", "/stats")

    def reset_stats(self):
        return self.admin("POST", "/stats/reset")

    def requests_total(self):
        return self.stats()["total"]

    def faults(self):
        return self.admin("GET", "/faults")

    def set_faults(self, **kw):
        return self.admin("POST", "/faults", kw)

    def clear_faults(self):
        return self.admin("POST", "/faults/clear")

    def reset_rate_limits(self):
        return self.admin("POST", "/rate-limits/reset")

    def add_key(self, key, name="test"):
        return self.admin("POST", "/keys", {"key": key, "name": name})

    def add(self, kind, obj):
        assert kind in KINDS, kind
        return self.admin("POST", "/" + kind, obj)

    def get(self, kind, id):
        assert kind in KINDS, kind
        return self.admin("GET", "/%s/%s" % (kind, _quote(id)))

    def patch(self, kind, id, patch):
        assert kind in KINDS, kind
        return self.admin("PATCH", "/%s/%s" % (kind, _quote(id)), patch)

    def delete(self, kind, id):
        assert kind in KINDS, kind
        return self.admin("DELETE", "/%s/%s" % (kind, _quote(id)))

    def lock(self, kind, id, locked=True):
        """The backend's lock on one object (POST /_emulator/lock); returns the raw object."""
        assert kind in KINDS, kind
        return self.admin("POST", "/lock", {"kind": kind, "id": id, "locked": locked})

    def shift_page(self, kind, count=1):
        """The next `count` listings of kind with 0 < offset skip the item at offset."""
        assert kind in KINDS, kind
        return self.set_faults(shift_page={"kind": kind, "count": count})
