"""The admin API under /_emulator/ (no auth, never rate limited, never
faulted): state, stats, faults, rate limits and keys, and objects added,
changed, locked or deleted while a client is connected."""

import hashlib
import json
import sys
import time
import uuid
from urllib.parse import parse_qsl, unquote

from .common import ADMIN_PREFIX, KEY_RE, Reply, iso_now, public
from .data import embedded_items, goal_history
from .faults import SHIFT_KINDS

# The kinds of object in the admin API's paths, and the data's list of each.
KINDS = {"conversations": "conversations", "memories": "memories", "action-items": "action_items",
         "goals": "goals"}
# (method, first part of the path, the rest) -> the AdminMixin method that
# answers it, called with the query and the JSON body.  /_emulator/ alone is
# /_emulator/info; /_emulator/KIND[/ID] is admin_objects.
ADMIN_ENDPOINTS = {
    ("GET", "info", ()): "admin_info",
    ("GET", "data", ()): "admin_data",
    ("GET", "stats", ()): "admin_stats",
    ("POST", "stats", ("reset",)): "admin_reset_stats",
    ("GET", "faults", ()): "admin_faults",
    ("POST", "faults", ()): "admin_set_faults",
    ("POST", "faults", ("clear",)): "admin_clear_faults",
    ("GET", "rate-limits", ()): "admin_rate_limits",
    ("POST", "rate-limits", ("reset",)): "admin_reset_rate_limits",
    ("GET", "keys", ()): "admin_keys",
    ("POST", "keys", ()): "admin_add_key",
    ("POST", "lock", ()): "admin_lock",
}


class AdminMixin:
    """The Emulator's /_emulator/ methods, each under self.lock."""

    def client_view(self):
        """What a client sees in the profile (GET /_emulator/data): locked
        memories as their stub; in the backend profile, locked conversations
        and action items gone, and goals with a year of history."""
        with self.lock:
            return {
                "conversations": [self.conv_shape(c, True) for c in self.sorted_conversations() if self.visible(c)],
                "memories": [self.mem_shape(m) for m in self.sorted_memories()],
                "action_items": [self.ai_shape(a) for a in self.sorted_action_items() if self.ai_visible(a)],
                **({} if self.profile == "documented" else {
                    "goals": [dict(public(g), history=goal_history(g, 365)) for g in self.sorted_goals()]}),
            }

    def handle_admin(self, method, raw_path, query, body):
        """The Reply to a request under /_emulator/ (no auth, no limits, no faults)."""
        sub = raw_path[len(ADMIN_PREFIX):].strip("/")
        parts = [unquote(p) for p in sub.split("/")] if sub else []
        q = dict(parse_qsl(query, keep_blank_values=True))
        payload = None
        if body:
            try:
                payload = json.loads(body.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                return Reply(400, {"error": "body is not valid JSON"})
        with self.lock:
            try:
                return self._admin(method, parts, q, payload)
            except Exception as exc:
                sys.stderr.write("omi-emulator: admin error: %r\n" % (exc,))
                return Reply(500, {"error": "admin error: %r" % (exc,)})

    def _admin(self, method, parts, q, payload):
        head = parts[0] if parts else "info"
        rest = parts[1:]
        name = ADMIN_ENDPOINTS.get((method, head, tuple(rest)))
        if name is not None:
            return getattr(self, name)(q, payload)
        if head in KINDS:
            return self.admin_objects(method, KINDS[head], rest, payload)
        return Reply(404, {"error": "no such admin endpoint: %s /%s" % (method, "/".join(parts))})

    def admin_info(self, q, payload):
        return Reply(200, {
            "profile": self.profile, "base_url": self.base_url, "seed": self.opts.seed,
            "limits": self.limiter.limits, "windows": self.limiter.windows,
            "window_scale": self.opts.window_scale, "fault_seed": self.opts.fault_seed,
            "counts": {k: len(v) for k, v in self.data.items()},
            "visible_conversations": sum(1 for c in self.data["conversations"]
                                         if isinstance(c, dict) and self.visible(c)),
            "data_version": self.version,
        })

    def admin_data(self, q, payload):
        if q.get("all", "") in ("1", "true", "yes"):
            return Reply(200, self.data)
        return Reply(200, self.client_view())

    def admin_stats(self, q, payload):
        return Reply(200, self.stats)

    def admin_reset_stats(self, q, payload):
        self.reset_stats()
        return Reply(200, self.stats)

    def admin_faults(self, q, payload):
        return Reply(200, self.faults)

    def admin_set_faults(self, q, payload):
        return self.set_faults(payload)

    def admin_clear_faults(self, q, payload):
        return self.clear_faults()

    def admin_rate_limits(self, q, payload):
        return Reply(200, self.limiter.state(time.time()))

    def admin_reset_rate_limits(self, q, payload):
        self.limiter.reset()
        return Reply(200, {"reset": True})

    def admin_keys(self, q, payload):
        return Reply(200, [dict(self.key_object(k, with_secret=True), revoked=k["revoked"])
                           for k in self.keys])

    def admin_add_key(self, q, payload):
        secret = payload.get("key") if isinstance(payload, dict) else None
        if not isinstance(secret, str) or not KEY_RE.match(secret):
            return Reply(400, {"error": "key must look like omi_dev_ + 32 lowercase hex"})
        entry = self.add_key(secret, str(payload.get("name") or "admin-key"))
        return Reply(201, self.key_object(entry, with_secret=True))

    def find_index(self, kind, obj_id):
        for i, o in enumerate(self.data[kind]):
            if isinstance(o, dict) and o.get("id") == obj_id:
                return i
        return -1

    def admin_objects(self, method, kind, rest, payload):
        if not rest and method == "POST":
            if not isinstance(payload, dict):
                return Reply(400, {"error": "body must be a JSON object"})
            obj = deep_merge(default_object(kind), payload)
            if kind == "memories" and "scoring" not in payload:
                obj["scoring"] = int(hashlib.sha1(str(obj["id"]).encode()).hexdigest()[:4], 16) % 10000
            if self.find_index(kind, obj["id"]) >= 0:
                return Reply(409, {"error": "an object with this id exists"})
            if kind == "conversations" and "action_items" not in (payload.get("structured") or {}):
                obj["structured"]["action_items"] = embedded_items(self.data["action_items"], obj["id"])
            self.data[kind].append(obj)
            self.after_change(kind, None, obj)
            return Reply(201, obj)
        if len(rest) != 1:
            return Reply(404, {"error": "no such admin endpoint"})
        idx = self.find_index(kind, rest[0])
        if idx < 0:
            return Reply(404, {"error": "no %s with id %r" % (kind, rest[0])})
        old = self.data[kind][idx]
        if method == "GET":
            return Reply(200, old)
        if method == "PATCH":
            if not isinstance(payload, dict):
                return Reply(400, {"error": "body must be a JSON object"})
            new = deep_merge(old, payload)
            self.data[kind][idx] = new
            self.after_change(kind, old, new)
            return Reply(200, new)
        if method == "DELETE":
            del self.data[kind][idx]
            self.after_change(kind, old, None)
            return Reply(204)
        return Reply(405, {"error": "method not allowed"})

    def admin_lock(self, q, payload):
        """POST /_emulator/lock {"kind", "id", "locked": true|false}: the backend's lock.

        The same as PATCH /_emulator/{kind}/{id} {"_locked": true}; unlocking removes
        the _locked field.  Answers the raw object."""
        if not isinstance(payload, dict):
            return Reply(400, {"error": "body must be a JSON object: {\"kind\", \"id\", \"locked\"}"})
        kind = SHIFT_KINDS.get(payload.get("kind")) if isinstance(payload.get("kind"), str) else None
        if kind is None:
            return Reply(400, {"error": "kind must be one of conversations, memories, action-items"})
        locked = payload.get("locked", True)
        if not isinstance(locked, bool):
            return Reply(400, {"error": "locked must be true or false"})
        kind = KINDS[kind]
        idx = self.find_index(kind, payload.get("id"))
        if idx < 0:
            return Reply(404, {"error": "no %s with id %r" % (kind, payload.get("id"))})
        old = self.data[kind][idx]
        new = dict(old)
        if locked:
            new["_locked"] = True
        else:
            new.pop("_locked", None)
        self.data[kind][idx] = new
        self.after_change(kind, old, new)
        return Reply(200, new)

    def after_change(self, kind, old, new):
        """Keep structured.action_items consistent with the action item list."""
        if kind == "action_items":
            cids = {o.get("conversation_id") for o in (old, new) if isinstance(o, dict)}
            cids.discard(None)
            for c in self.data["conversations"]:
                if isinstance(c, dict) and c.get("id") in cids and isinstance(c.get("structured"), dict):
                    c["structured"] = dict(c["structured"])
                    c["structured"]["action_items"] = embedded_items(self.data["action_items"], c["id"])
        self.changed()


def deep_merge(base, patch):
    """A new object: base with patch merged in (dicts recursively, anything else replaced)."""
    if not isinstance(base, dict) or not isinstance(patch, dict):
        return json.loads(json.dumps(patch))
    out = dict(base)
    for k, v in patch.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = json.loads(json.dumps(v))
    return out


def default_object(kind):
    """A new object of kind with every field, what POST /_emulator/{kind} merges its body into."""
    now = iso_now()
    oid = str(uuid.uuid4())
    if kind == "conversations":
        return {"id": oid, "created_at": now, "started_at": now, "finished_at": now, "language": "en",
                "source": "omi",
                "structured": {"title": "Untitled", "overview": "", "emoji": "💬", "category": "other",
                               "action_items": [], "events": []},
                "transcript_segments": [], "geolocation": None, "folder_id": None, "folder_name": None}
    if kind == "memories":
        return {"id": oid, "content": "", "category": "other", "visibility": "private", "tags": [],
                "created_at": now, "updated_at": None, "manually_added": True, "reviewed": False,
                "edited": False, "user_review": None, "scoring": 0}
    if kind == "goals":
        return {"id": "goal_" + oid[:12], "title": "", "goal_type": "scale", "target_value": 10.0,
                "current_value": 0.0, "min_value": 0.0, "max_value": 10.0, "unit": None,
                "is_active": True, "created_at": now, "updated_at": now, "_history": []}
    return {"id": oid, "description": "", "completed": False, "created_at": now, "updated_at": now,
            "due_at": None, "completed_at": None, "conversation_id": None}
