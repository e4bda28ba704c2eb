"""Fault injection: the settings and their checks, wrong-typed and
malformed bodies, and the Emulator's methods that roll the dice, stall,
answer injected errors and shift pages."""

import json
import math
import random
import time

from .common import Reply
from .dialects import REASONS
from .rate_limits import Bucket


FAULT_DEFAULTS = {
    "latency_ms": 0,
    "error_rate": 0.0,
    "error_status": 500,
    "malformed_rate": 0.0,
    "truncate_rate": 0.0,
    "drop_rate": 0.0,
    "stall_rate": 0.0,
    "stall_seconds": 30.0,
    "wrong_types_rate": 0.0,
    "fail_next": 0,
    "paths": "",
    "retry_after": 1,
    # Pending page shifts per kind: see shift_page_patch().
    "shift_page": {"conversations": 0, "memories": 0, "action-items": 0},
}
SHIFT_KINDS = {"conversations": "conversations", "memories": "memories", "action-items": "action-items",
               "action_items": "action-items"}
FAULT_TYPES = {
    "latency_ms": (int, float), "error_rate": (int, float), "error_status": (int,),
    "malformed_rate": (int, float), "truncate_rate": (int, float), "drop_rate": (int, float),
    "stall_rate": (int, float), "stall_seconds": (int, float), "wrong_types_rate": (int, float),
    "fail_next": (int,), "paths": (str,), "retry_after": (int,), "shift_page": (dict,),
}


def fresh_faults():
    """The default fault settings, with nothing shared with FAULT_DEFAULTS."""
    return json.loads(json.dumps(FAULT_DEFAULTS))


def shift_page_patch(value):
    """Read a shift_page setting; returns ({kind: count}, None) or (None, error message).

    Two shapes: {"kind": "memories", "count": 1} (count defaults to 1), or what
    GET /_emulator/faults shows, {"memories": 1, "action-items": 0, ...}.  A kind
    may be spelled action-items or action_items.  The counts given replace the
    pending ones of those kinds; 0 cancels."""
    if not isinstance(value, dict):
        return None, "shift_page must be an object like {\"kind\": \"memories\", \"count\": 1}"
    if "kind" in value:
        extra = set(value) - {"kind", "count"}
        if extra:
            return None, "shift_page takes kind and count, not %s" % ", ".join(sorted(extra))
        pairs = [(value["kind"], value.get("count", 1))]
    else:
        pairs = list(value.items())
    out = {}
    for kind, count in pairs:
        if not isinstance(kind, str) or kind not in SHIFT_KINDS:
            return None, "shift_page kind must be one of conversations, memories, action-items: %r" % (kind,)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            return None, "shift_page count must be a non-negative integer: %r" % (count,)
        out[SHIFT_KINDS[kind]] = count
    return out, None


def validate_faults(patch):
    """Check a fault patch; returns an error message or None."""
    if not isinstance(patch, dict):
        return "fault settings must be a JSON object"
    for k, v in patch.items():
        if k == "seed":
            if not isinstance(v, int) or isinstance(v, bool):
                return "seed must be an integer"
            continue
        if k not in FAULT_TYPES:
            return "unknown fault setting %r (known: %s)" % (k, ", ".join(sorted(FAULT_TYPES)))
        if k == "paths" and v is None:
            continue
        if k == "shift_page":
            err = shift_page_patch(v)[1]
            if err:
                return err
            continue
        if isinstance(v, bool) or not isinstance(v, FAULT_TYPES[k]):
            return "bad value for %s: %r" % (k, v)
        if k.endswith("_rate") and not 0 <= v <= 1:
            return "%s must be between 0 and 1" % k
        if k in ("latency_ms", "stall_seconds", "fail_next", "retry_after") and v < 0:
            return "%s must not be negative" % k
        if k == "error_status" and not 100 <= v <= 599:
            return "error_status must be an HTTP status"
    return None


def scramble_types(obj, rng, depth=0):
    """Valid JSON with wrong types: strings for numbers, objects for arrays, nulls..."""
    if isinstance(obj, bool):
        return rng.choice(["true", 1, None])
    if isinstance(obj, (int, float)):
        return rng.choice([str(obj), None, [obj]])
    if isinstance(obj, str):
        return rng.choice([12345, None, {"value": obj}, True])
    if isinstance(obj, list):
        if rng.random() < (0.5 if depth == 0 else 0.2):
            return {"items": [scramble_types(x, rng, depth + 1) for x in obj], "count": len(obj)}
        return [scramble_types(x, rng, depth + 1) for x in obj]
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out[k] = scramble_types(v, rng, depth + 1) if rng.random() < 0.6 else v
        if "id" in out:
            out["id"] = rng.choice([987654321, None, ["id"]])
        return out
    if obj is None:
        return rng.choice([0, "null", []])
    return obj


MALFORMED_BODIES = [
    b'[{"id": "abc", "content": "unterminated',
    b"<html><body><h1>502 Bad Gateway</h1></body></html>",
    b'[{"id": 1,, "x": ]',
    b"\xff\xfe\x00garbage\x00",
    b'{"detail": "ok"} trailing garbage',
    b"",
]


class FaultMixin:
    """The Emulator's fault methods: self.faults (the settings), self.fault_rng
    (the dice) and self.stall_epoch, under self.lock unless said."""

    def fault_applies(self, path):
        """Whether faults hit this path (its "paths" setting is a substring of it)."""
        p = self.faults.get("paths") or ""
        return p in path

    def plan_delays(self, path):
        """Latency and stall for this request (decided before anything else)."""
        with self.lock:
            if not self.fault_applies(path):
                return 0.0, 0.0
            latency = self.faults["latency_ms"] / 1000.0
            stall = 0.0
            if self.faults["stall_rate"] > 0 and self.fault_rng.random() < self.faults["stall_rate"]:
                stall = float(self.faults["stall_seconds"])
            return latency, stall

    def stall(self, seconds):
        """Sleep, ending early when faults are cleared or the server stops.  False if stopping."""
        deadline = time.monotonic() + seconds
        with self.cond:
            epoch = self.stall_epoch
            while not self.stopping and epoch == self.stall_epoch:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(min(left, 0.5))
            return not self.stopping

    def pick_fault(self):
        """Which body/status fault hits this request (under the lock)."""
        f = self.faults
        if f["fail_next"] > 0:
            f["fail_next"] -= 1
            return "fail_next"
        for name in ("error", "drop", "truncate", "malformed", "wrong_types"):
            rate = f[name + "_rate"]
            if rate > 0 and self.fault_rng.random() < rate:
                return name
        return None

    def fault_error(self, now, buckets):
        """The injected error of error_status, in the profile's dialect."""
        status = self.faults["error_status"]
        retry = self.faults["retry_after"]
        if status == 429:
            b = buckets[0] if buckets else Bucket(self.limiter.limits["minute"], self.limiter.windows["minute"])
            if self.profile == "documented":
                hdrs = [("X-RateLimit-Limit", str(b.limit)), ("X-RateLimit-Remaining", "0"),
                        ("X-RateLimit-Reset", str(int(math.ceil(time.time() + retry)))),
                        ("Retry-After", str(retry))]
            else:
                hdrs = [("Retry-After", str(retry)), ("X-RateLimit-Limit", str(b.limit)),
                        ("X-RateLimit-Remaining", "0")]
            return self.error(429, "Rate limit exceeded (injected).", "rate_limit_exceeded", headers=hdrs)
        if status == 402 and self.profile == "backend":
            return self.error(402, "", detail={"code": "payment_required",
                                               "message": "This conversation is locked (injected)."})
        return self.error(status, "%s (injected)" % REASONS.get(status, "Error"))

    def injected_failure(self, fault, now, buckets, include_transcript):
        """fail_next or error: the injected error, which uses the request's
        budget (and, for a conversation, the transcript budget) unless it is a 429."""
        reply = self.fault_error(now, buckets)
        if reply.status != 429:
            for b in buckets:
                b.consume(now)
            if self.profile == "documented":
                reply.headers += self.documented_headers(buckets, now)
        reply.fault = fault
        reply.transcript = include_transcript and reply.status != 429
        return reply

    def faulted(self, reply, fault):
        """The answer as the fault that hit the request (drop or a body fault)
        leaves it, encoded now: under the lock, as the data may change later."""
        if fault == "drop":
            reply.mode = "drop"
            reply.fault = "drop"
        elif fault is not None:
            reply = self.apply_body_fault(reply, fault)
        if reply.payload is not None and reply.raw is None:
            reply.raw = reply.body()      # encode under the lock: the data may change later
        return reply

    def apply_body_fault(self, reply, fault):
        """Malformed / truncated / wrong-typed bodies only replace a 200 with a body."""
        if reply.status != 200:
            return reply
        if fault == "malformed":
            reply.raw = self.fault_rng.choice(MALFORMED_BODIES)
        elif fault == "truncate":
            reply.mode = "truncate"
        elif fault == "wrong_types":
            reply.payload = scramble_types(reply.payload, self.fault_rng)
        else:
            return reply
        reply.fault = fault
        return reply

    def page_of(self, kind, items, offset, limit, allow_shift):
        """items[offset:offset + limit], unless a shift_page fault is pending for kind.

        A pending shift fires on a listing whose offset is inside the list but not 0:
        the page is answered as if one item before offset had been removed, so the
        item at offset is skipped and the page starts at offset + 1.  Nothing is
        deleted.  Returns (page, fault name or None)."""
        pending = self.faults["shift_page"]
        if allow_shift and pending.get(kind, 0) > 0 and 0 < offset < len(items):
            pending[kind] -= 1
            return items[offset + 1:offset + 1 + limit], "shift_page"
        return items[offset:offset + limit], None

    def set_faults(self, payload):
        """POST /_emulator/faults: merge a checked patch into the settings.

        seed re-seeds the dice, a null paths means every path, a change of
        the stall settings ends the stalls under way, and shift_page counts
        replace the pending ones of their kinds."""
        err = validate_faults(payload if payload is not None else {})
        if err:
            return Reply(400, {"error": err})
        patch = dict(payload or {})
        if "seed" in patch:
            self.fault_rng = random.Random(patch.pop("seed"))
        if patch.get("paths") is None and "paths" in patch:
            patch["paths"] = ""
        if any(k in patch for k in ("stall_rate", "stall_seconds")):
            self.stall_epoch += 1
        if "shift_page" in patch:
            pending = dict(self.faults["shift_page"])
            pending.update(shift_page_patch(patch["shift_page"])[0])
            patch["shift_page"] = pending
        self.faults.update(patch)
        self.cond.notify_all()
        return Reply(200, self.faults)

    def clear_faults(self):
        """POST /_emulator/faults/clear: the defaults again, stalls ended."""
        self.faults = fresh_faults()
        self.stall_epoch += 1
        self.cond.notify_all()
        return Reply(200, self.faults)
