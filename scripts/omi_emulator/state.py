"""The Emulator: the data a client sees, keys, counters and the request
log, with the methods of the other modules mixed in (dialects, rate
limits, faults, the API and the admin API)."""

import hashlib
import json
import random
import threading
import time

from .admin import AdminMixin
from .api import ApiMixin
from .common import KEY_RE, epoch_of, iso_now
from .dialects import DialectMixin
from .faults import FaultMixin, fresh_faults
from .rate_limits import DEFAULT_LIMITS, RateLimiter, RateLimitMixin


class Emulator(DialectMixin, RateLimitMixin, FaultMixin, ApiMixin, AdminMixin):
    """One emulated account: its data, keys, limits, faults and counters.

    One lock (self.lock, re-entrant; self.cond waits on it) guards all of
    it but the request log, which has its own: the handler threads take it
    for each request, the admin API for each change."""

    def __init__(self, opts, dataset, keys):
        self.opts = opts
        self.profile = opts.profile
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.stopping = False
        self.stop_event = threading.Event()
        self.data = {"conversations": list(dataset.get("conversations") or []),
                     "memories": list(dataset.get("memories") or []),
                     "action_items": list(dataset.get("action_items") or []),
                     "goals": list(dataset.get("goals") or [])}
        self.version = 0
        self._sorted_cache = {}
        limits = dict(DEFAULT_LIMITS)
        limits.update(opts.limit_overrides)
        self.limiter = RateLimiter(limits, opts.window_scale)
        self.keys = []            # dicts: id, name, key, created_at, last_used_at, revoked
        for i, k in enumerate(keys):
            self.add_key(k, "cli-key-%d" % (i + 1))
        self.faults = fresh_faults()
        self.faults.update(opts.initial_faults)
        self.fault_rng = random.Random(opts.fault_seed)
        self.stall_epoch = 0
        self.reset_stats()
        self.log_file = open(opts.log, "a", encoding="utf-8") if opts.log else None
        self.log_lock = threading.Lock()
        self.base_url = None

    # -- keys ---------------------------------------------------------------------
    def add_key(self, secret, name):
        with self.lock:
            for k in self.keys:
                if k["key"] == secret and not k["revoked"]:
                    return k
            entry = {"id": "key_" + hashlib.sha256((secret + str(len(self.keys))).encode()).hexdigest()[:16],
                     "name": name, "key": secret, "created_at": iso_now(), "last_used_at": None,
                     "revoked": False, "seq": len(self.keys)}
            self.keys.append(entry)
            return entry

    def key_object(self, k, with_secret=False):
        out = {"id": k["id"], "name": k["name"], "key_prefix": k["key"][:14],
               "created_at": k["created_at"], "last_used_at": k["last_used_at"]}
        if with_secret:
            out["key"] = k["key"]
        return out

    def authenticate(self, header):
        """Returns (key entry or None, reason)."""
        if not header:
            return None, "missing"
        parts = header.split(None, 1)
        if len(parts) != 2 or parts[0].lower() != "bearer":
            return None, "malformed"
        token = parts[1].strip()
        if not KEY_RE.match(token):
            return None, "malformed"
        for k in self.keys:
            if k["key"] == token and not k["revoked"]:
                return k, "ok"
        return None, "unknown"

    # -- stats ----------------------------------------------------------------------
    def reset_stats(self):
        with self.lock:
            self.stats = {"total": 0, "by_endpoint": {}, "by_status": {}, "transcript_requests": 0,
                          "faults": {}}

    def record(self, endpoint, reply, status_key):
        with self.lock:
            st = self.stats
            st["total"] += 1
            ep = st["by_endpoint"].setdefault(endpoint, {})
            ep[status_key] = ep.get(status_key, 0) + 1
            st["by_status"][status_key] = st["by_status"].get(status_key, 0) + 1
            if reply.transcript:
                st["transcript_requests"] += 1
            if reply.fault:
                st["faults"][reply.fault] = st["faults"].get(reply.fault, 0) + 1

    def log_request(self, method, path, query, status, nbytes, ms, fault):
        if self.log_file is None:
            return
        line = json.dumps({"t": round(time.time(), 3), "method": method, "path": path, "query": query,
                           "status": status, "bytes": nbytes, "ms": round(ms, 2), "fault": fault},
                          ensure_ascii=False)
        with self.log_lock:
            self.log_file.write(line + "\n")
            self.log_file.flush()

    # -- data views -------------------------------------------------------------------
    def changed(self):
        self.version += 1
        self._sorted_cache.clear()

    def sorted_conversations(self):
        got = self._sorted_cache.get("conversations")
        if got is None:
            def key(c):
                e = epoch_of(c.get("created_at"))
                return (1, 0.0, str(c.get("id"))) if e is None else (0, -e, str(c.get("id")))
            got = sorted((c for c in self.data["conversations"] if isinstance(c, dict)), key=key)
            self._sorted_cache["conversations"] = got
        return got

    def sorted_memories(self):
        got = self._sorted_cache.get("memories")
        if got is None:
            def key(m):
                s = m.get("scoring")
                s = s if isinstance(s, (int, float)) and not isinstance(s, bool) else 0
                e = epoch_of(m.get("created_at"))
                return (-s, -(e if e is not None else -1e18), str(m.get("id")))
            got = sorted((m for m in self.data["memories"] if isinstance(m, dict)), key=key)
            self._sorted_cache["memories"] = got
        return got

    def sorted_action_items(self):
        got = self._sorted_cache.get("action_items")
        if got is None:
            def key(a):
                due = epoch_of(a.get("due_at"))
                created = epoch_of(a.get("created_at"))
                return (1 if a.get("completed") is True else 0,
                        1 if due is None else 0, due or 0.0,
                        -(created if created is not None else -1e18), str(a.get("id")))
            got = sorted((a for a in self.data["action_items"] if isinstance(a, dict)), key=key)
            self._sorted_cache["action_items"] = got
        return got

    def sorted_goals(self):
        """Newest first, as the backend's get_all_goals sorts them."""
        got = self._sorted_cache.get("goals")
        if got is None:
            def key(g):
                e = epoch_of(g.get("created_at"))
                return (-(e if e is not None else -1e18), str(g.get("id")))
            got = sorted((g for g in self.data["goals"] if isinstance(g, dict)), key=key)
            self._sorted_cache["goals"] = got
        return got
