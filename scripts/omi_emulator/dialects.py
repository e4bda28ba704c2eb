"""The two dialects: what a client sees in the documented profile and in
the backend profile (object shapes, locks, error bodies and codes), and
ParamReader, which reads query parameters the way FastAPI does."""

from .common import FALSE_WORDS, INT_RE, TRUE_WORDS, Reply, parse_datetime, pick, public


DOC_CONV_KEYS = ("id", "created_at", "started_at", "finished_at", "language", "source", "structured")
DOC_STRUCT_KEYS = ("title", "overview", "emoji", "category", "action_items", "events")
DOC_EMBED_KEYS = ("description", "completed", "created_at", "updated_at", "due_at", "completed_at")
DOC_EVENT_KEYS = ("title", "description", "start", "duration", "created")
DOC_SEG_KEYS = ("id", "text", "speaker_id", "start", "end")
DOC_MEM_KEYS = ("id", "content", "category")
DOC_AI_KEYS = ("id", "description", "completed", "created_at", "updated_at", "due_at",
               "completed_at", "conversation_id")


def public_conversation(c, include_transcript):
    """Backend shape without copying the transcript twice."""
    out = {}
    for k, v in c.items():
        if k.startswith("_"):
            continue
        if k == "transcript_segments":
            continue
        out[k] = public(v)
    if include_transcript:
        segs = c.get("transcript_segments")
        out["transcript_segments"] = [public(s) for s in segs] if isinstance(segs, list) else []
    else:
        out["transcript_segments"] = None
    return out


def documented_conversation(c, include_transcript):
    out = pick(c, DOC_CONV_KEYS)
    st = out.get("structured")
    if isinstance(st, dict):
        st = pick(st, DOC_STRUCT_KEYS)
        if isinstance(st.get("action_items"), list):
            st["action_items"] = [pick(a, DOC_EMBED_KEYS) for a in st["action_items"]]
        if isinstance(st.get("events"), list):
            st["events"] = [pick(e, DOC_EVENT_KEYS) for e in st["events"]]
        out["structured"] = st
    if include_transcript:
        segs = c.get("transcript_segments")
        out["transcript_segments"] = [pick(s, DOC_SEG_KEYS) for s in segs] if isinstance(segs, list) else []
    return out


LOCKED_MEMORY_CHARS = 70     # a locked memory's content is cut to this many characters + "..."
DOC_CODES = {400: "bad_request", 401: "invalid_api_key", 402: "payment_required", 403: "forbidden",
             404: "not_found", 405: "method_not_allowed", 409: "conflict", 422: "unprocessable_entity",
             429: "rate_limit_exceeded", 500: "internal_error", 502: "bad_gateway",
             503: "service_unavailable", 504: "gateway_timeout"}
REASONS = {400: "Bad Request", 401: "Invalid API key", 402: "Payment required",
           403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict",
           429: "Rate limit exceeded", 500: "Internal Server Error", 502: "Bad Gateway",
           503: "Service Unavailable", 504: "Gateway Timeout"}


class ParamReader:
    """Reads query parameters and collects validation errors (FastAPI-like)."""

    def __init__(self, pairs, profile):
        self.q = {}
        for k, v in pairs:
            self.q[k] = v          # the last value wins, as in Starlette
        self.profile = profile
        self.errors = []

    def _err(self, name, typ, msg, raw):
        self.errors.append({"type": typ, "loc": ["query", name], "msg": msg, "input": raw})

    def int(self, name, default):
        raw = self.q.get(name)
        if raw is None:
            return default
        if not INT_RE.match(raw):
            self._err(name, "int_parsing", "Input should be a valid integer, unable to parse string as an integer", raw)
            return default
        return int(raw)

    def bool(self, name, default):
        raw = self.q.get(name)
        if raw is None:
            return default
        low = raw.lower()
        if low in TRUE_WORDS:
            return True
        if low in FALSE_WORDS:
            return False
        self._err(name, "bool_parsing", "Input should be a valid boolean, unable to interpret input", raw)
        return default

    def datetime(self, name):
        raw = self.q.get(name)
        if raw is None:
            return None
        try:
            return parse_datetime(raw, allow_numeric=self.profile == "backend")
        except (ValueError, OverflowError):
            self._err(name, "datetime_from_date_parsing",
                      "Input should be a valid datetime or date, invalid character in date or datetime", raw)
            return None

    def str(self, name):
        return self.q.get(name)

    def categories(self, name="categories"):
        raw = self.q.get(name)
        if raw is None:
            return None
        cats = [c.strip() for c in raw.split(",") if c.strip()]
        return cats or None


class DialectMixin:
    """The Emulator's methods that answer in its profile's dialect: what a
    client sees of an object, and errors."""

    def listable(self, c):
        """Visible before paging (discarded conversations never are)."""
        return not c.get("_discarded")

    def visible(self, c):
        """Visible to a client at all."""
        if c.get("_discarded"):
            return False
        return not (self.profile == "backend" and c.get("_locked"))

    def conv_shape(self, c, include_transcript):
        if self.profile == "documented":
            return documented_conversation(c, include_transcript)
        return public_conversation(c, include_transcript)

    def mem_shape(self, m):
        if self.profile == "documented":
            return pick(m, DOC_MEM_KEYS)            # the documented API knows no locks
        out = public(m)
        content = out.get("content")
        if m.get("_locked") and isinstance(content, str) and len(content) > LOCKED_MEMORY_CHARS:
            # The backend's lock: the first 70 characters (code points) and "...", and
            # nothing else in the object says so; shorter content is served whole.
            out["content"] = content[:LOCKED_MEMORY_CHARS] + "..."
        return out

    def ai_visible(self, a):
        """Locked action items are dropped by the backend (after paging)."""
        return not (self.profile == "backend" and a.get("_locked"))

    def ai_shape(self, a):
        return pick(a, DOC_AI_KEYS) if self.profile == "documented" else public(a)

    # -- errors in the profile's dialect ----------------------------------------------
    def error(self, status, message, code=None, detail=None, headers=None):
        if self.profile == "documented":
            if status == 422:
                status = 400
            payload = {"error": {"message": message, "code": code or DOC_CODES.get(status, "error")}}
        else:
            payload = {"detail": message if detail is None else detail}
        return Reply(status, payload, headers)

    def validation_error(self, errors):
        if self.profile == "documented":
            e = errors[0]
            name = e["loc"][-1]
            return self.error(400, "Invalid value for '%s': %s" % (name, e["msg"]), "bad_request")
        return Reply(422, {"detail": errors})
