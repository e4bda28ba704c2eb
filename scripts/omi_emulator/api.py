"""The /v1/dev API: its routes, and the Emulator's methods that
authenticate, rate-limit, fault and answer a request (listings, one
conversation, goals, keys)."""

import json
import re
import secrets
import sys
import time
from urllib.parse import parse_qsl, unquote

from .common import API_PREFIX, TRUE_WORDS, Reply, epoch_of, iso_now, public
from .data import CONV_CATEGORIES, goal_history
from .dialects import ParamReader

ROUTES = [
    # (method, template, regex on the path below /v1/dev)
    ("GET", "/user/memories", re.compile(r"^/user/memories$")),
    ("GET", "/user/action-items", re.compile(r"^/user/action-items$")),
    ("GET", "/user/conversations", re.compile(r"^/user/conversations$")),
    ("GET", "/user/conversations/{id}", re.compile(r"^/user/conversations/([^/]+)$")),
    ("GET", "/user/goals", re.compile(r"^/user/goals$")),          # backend only
    ("GET", "/user/goals/{id}", re.compile(r"^/user/goals/([^/]+)$")),
    ("GET", "/user/goals/{id}/history", re.compile(r"^/user/goals/([^/]+)/history$")),
    ("GET", "/keys", re.compile(r"^/keys$")),
    ("POST", "/keys", re.compile(r"^/keys$")),
    ("DELETE", "/keys/{key_id}", re.compile(r"^/keys/([^/]+)$")),
]


class ApiMixin:
    """The Emulator's /v1/dev methods: a request checked (route, key, rate
    limits, faults) and answered from the Emulator's data in its profile."""

    def handle_api(self, method, rel_path, query, headers, body):
        """Returns (endpoint template for stats, Reply).  Called under no lock."""
        route, path_ok = self.match_route(method, rel_path)
        with self.lock:
            now = time.time()
            if route is None:
                reply = self.error(405 if path_ok else 404, "Method Not Allowed" if path_ok else "Not Found")
                return "%s (unmatched)" % method, self.unbudgeted(reply, now)
            template, args = route
            endpoint = "%s %s" % (method, template)
            key, why = self.authenticate(headers.get("Authorization"))
            if key is None:
                msg = {"missing": "Missing API key", "malformed": "Invalid API key format"}.get(why, "Invalid API key")
                reply = self.error(401, msg, "invalid_api_key", headers=[("WWW-Authenticate", "Bearer")])
                return endpoint, self.unbudgeted(reply, now)
            params = ParamReader(parse_qsl(query, keep_blank_values=True), self.profile)
            include_transcript = False
            if template.startswith("/user/conversations"):
                raw = params.q.get("include_transcript", "")
                include_transcript = raw.lower() in TRUE_WORDS
            buckets = []
            if not (self.profile == "backend" and template.startswith("/keys")):
                buckets = self.policy_buckets(template, key, include_transcript)
            for b in buckets:
                if b.remaining(now) <= 0:
                    return endpoint, self.rate_limited(b, now)
            fault = self.pick_fault() if self.fault_applies(API_PREFIX + rel_path) else None
            if fault == "fail_next" or fault == "error":
                return endpoint, self.injected_failure(fault, now, buckets, include_transcript)
            for b in buckets:
                b.consume(now)
            key["last_used_at"] = iso_now()
            # A page shift is a fault of its own: never on a request another fault hits.
            reply = self.route(method, template, args, params, body, allow_shift=fault is None)
            reply.transcript = include_transcript and reply.status < 500
            if self.profile == "documented":
                reply.headers += self.documented_headers(buckets, now)
            return endpoint, self.faulted(reply, fault)

    def match_route(self, method, rel_path):
        """((template, unquoted path arguments) or None, whether the path is known).

        The route is None when no route of the profile takes this method on
        this path; the path is known when one takes another method (a 405)."""
        route = None
        path_ok = False
        for m, template, rx in ROUTES:
            if self.profile == "documented" and (template == "/user/conversations/{id}" or
                                                 template.startswith("/user/goals")):
                continue                    # not part of the documented API
            mt = rx.match(rel_path)
            if mt:
                path_ok = True
                if m == method:
                    route = (template, [unquote(g) for g in mt.groups()])
                    break
        return route, path_ok

    def unbudgeted(self, reply, now):
        """A reply that uses no budget (404, 405, 401): in the documented
        profile it carries the rate headers all the same."""
        if self.profile == "documented":
            reply.headers += self.documented_headers([], now)
        return reply

    def route(self, method, template, args, params, body, allow_shift=False):
        try:
            if template == "/user/memories":
                return self.get_memories(params, allow_shift)
            if template == "/user/action-items":
                return self.get_action_items(params, allow_shift)
            if template == "/user/conversations":
                return self.get_conversations(params, allow_shift)
            if template == "/user/conversations/{id}":
                return self.get_conversation(args[0], params)
            if template == "/user/goals":
                return self.get_goals(params)
            if template in ("/user/goals/{id}", "/user/goals/{id}/history"):
                return self.get_goal(args[0], params, template.endswith("/history"))
            if template == "/keys":
                return self.list_keys() if method == "GET" else self.create_key(body)
            if template == "/keys/{key_id}":
                return self.revoke_key(args[0])
        except Exception as exc:      # never crash a handler thread
            sys.stderr.write("omi-emulator: internal error: %r\n" % (exc,))
            return self.error(500, "Internal server error")
        return self.error(404, "Not Found")

    def paging(self, params, default_limit, max_limit):
        limit = params.int("limit", default_limit)
        offset = params.int("offset", 0)
        if params.errors:
            return None, None, self.validation_error(params.errors)
        if self.profile == "documented":
            if not 1 <= limit <= 1000:
                return None, None, self.error(400, "limit must be between 1 and 1000", "bad_request")
            if offset < 0:
                return None, None, self.error(400, "offset must not be negative", "bad_request")
        else:
            limit = max(1, min(max_limit, limit))
            offset = max(0, offset)
        return limit, offset, None

    def get_goals(self, params):
        """The backend's get_goals: active goals up to limit (default 10); with
        include_inactive=true every goal, limit and offset ignored (it pages none)."""
        limit = params.int("limit", 10)
        inactive = params.bool("include_inactive", False)
        if params.errors:
            return self.validation_error(params.errors)
        goals = self.sorted_goals()
        if not inactive:
            goals = [g for g in goals if g.get("is_active") is True][:max(0, limit)]
        return Reply(200, [public(g) for g in goals])

    def get_goal(self, goal_id, params, history):
        days = params.int("days", 30)
        if params.errors:
            return self.validation_error(params.errors)
        if history and days > 365:
            return self.validation_error([{"loc": ["query", "days"], "type": "less_than_equal",
                                           "msg": "Input should be less than or equal to 365"}])
        for g in self.sorted_goals():
            if g.get("id") == goal_id:
                return Reply(200, goal_history(g, days) if history else public(g))
        return self.error(404, "Goal not found")

    def get_memories(self, params, allow_shift=False):
        cats = params.categories()
        limit, offset, err = self.paging(params, 25, 1000)
        if err:
            return err
        items = self.sorted_memories()
        if cats:
            wanted = set(cats)
            items = [m for m in items if m.get("category") in wanted]
        page, shifted = self.page_of("memories", items, offset, limit, allow_shift)
        reply = Reply(200, [self.mem_shape(m) for m in page])
        reply.fault = shifted
        return reply

    def get_action_items(self, params, allow_shift=False):
        conv = params.str("conversation_id")
        completed = params.bool("completed", None)
        start = params.datetime("start_date")
        end = params.datetime("end_date")
        limit, offset, err = self.paging(params, 100, 1000)
        if err:
            return err
        items = self.sorted_action_items()
        if conv is not None:
            cid = None if conv == "null" else conv
            items = [a for a in items if a.get("conversation_id") == cid]
        if completed is not None:
            items = [a for a in items if bool(a.get("completed")) == completed]
        items = self.date_filter(items, start, end)
        page, shifted = self.page_of("action-items", items, offset, limit, allow_shift)
        if self.profile == "backend":
            page = [a for a in page if not a.get("_locked")]      # dropped AFTER paging
        reply = Reply(200, [self.ai_shape(a) for a in page])
        reply.fault = shifted
        return reply

    def date_filter(self, items, start, end):
        if start is None and end is None:
            return items
        lo = start.timestamp() if start else None
        hi = end.timestamp() if end else None
        out = []
        for it in items:
            e = epoch_of(it.get("created_at"))
            if e is None:
                continue
            if lo is not None and e < lo:
                continue
            if hi is not None and e > hi:
                continue
            out.append(it)
        return out

    def get_conversations(self, params, allow_shift=False):
        start = params.datetime("start_date")
        end = params.datetime("end_date")
        include = params.bool("include_transcript", False)
        cats = params.categories()
        limit, offset, err = self.paging(params, 25, 25 if include else 100)
        if err:
            return err
        if cats and self.profile == "backend":
            bad = [c for c in cats if c not in CONV_CATEGORIES]
            if bad:
                return self.error(400, "Invalid category: %s" % bad[0])
        items = [c for c in self.sorted_conversations() if self.listable(c)]
        if cats:
            wanted = set(cats)
            items = [c for c in items if isinstance(c.get("structured"), dict)
                     and c["structured"].get("category") in wanted]
        items = self.date_filter(items, start, end)
        page, shifted = self.page_of("conversations", items, offset, limit, allow_shift)
        if self.profile == "backend":
            page = [c for c in page if not c.get("_locked")]      # dropped AFTER paging
        reply = Reply(200, [self.conv_shape(c, include) for c in page])
        reply.fault = shifted
        return reply

    def get_conversation(self, conv_id, params):
        include = params.bool("include_transcript", False)
        if params.errors:
            return self.validation_error(params.errors)
        for c in self.data["conversations"]:
            if isinstance(c, dict) and c.get("id") == conv_id and self.visible(c):
                return Reply(200, self.conv_shape(c, include))
        return self.error(404, "Conversation not found", "not_found")

    def list_keys(self):
        """GET /keys: the keys not revoked, newest first."""
        return Reply(200, [self.key_object(k) for k in
                           sorted(self.keys, key=lambda k: (k["created_at"], k["seq"]), reverse=True)
                           if not k["revoked"]])

    def create_key(self, body):
        try:
            obj = json.loads(body.decode("utf-8")) if body else None
        except (ValueError, UnicodeDecodeError):
            if self.profile == "documented":
                return self.error(400, "Request body must be JSON", "bad_request")
            return Reply(422, {"detail": [{"type": "json_invalid", "loc": ["body", 0],
                                           "msg": "JSON decode error", "input": {}}]})
        name = obj.get("name") if isinstance(obj, dict) else None
        if not isinstance(name, str) or not name.strip():
            if self.profile == "documented":
                return self.error(400, "Key name is required", "bad_request")
            if isinstance(obj, dict) and "name" in obj:
                err = {"type": "value_error" if isinstance(name, str) else "string_type",
                       "loc": ["body", "name"], "msg": "Key name must not be empty"
                       if isinstance(name, str) else "Input should be a valid string", "input": name}
            else:
                err = {"type": "missing", "loc": ["body", "name"], "msg": "Field required", "input": obj}
            return Reply(422, {"detail": [err]})
        secret = "omi_dev_" + secrets.token_hex(16)
        entry = self.add_key(secret, name.strip())
        return Reply(200, self.key_object(entry, with_secret=True))

    def revoke_key(self, key_id):
        for k in self.keys:
            if k["id"] == key_id and not k["revoked"]:
                k["revoked"] = True
                return Reply(204)
        return self.error(404, "API key not found", "not_found")
