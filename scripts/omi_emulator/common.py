"""What every module of the emulator uses: the URL prefixes, the key and
parameter patterns, time parsing and formatting, JSON encoding, the
internal-field filter, and Reply, one answer on its way to the client."""

import json
import re
from datetime import date, datetime, timedelta, timezone

API_PREFIX = "/v1/dev"
ADMIN_PREFIX = "/_emulator"
UTC = timezone.utc
# The generated data ends here, never "now": the data must not depend on the clock.
END_OF_DATA = datetime(2025, 6, 30, 23, 59, 59, tzinfo=UTC)
KEY_RE = re.compile(r"^omi_dev_[0-9a-f]{32}$")
INT_RE = re.compile(r"^[+-]?[0-9]+$")
NUMBER_RE = re.compile(r"^[+-]?[0-9]+(\.[0-9]+)?$")
DATE_ONLY_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
TRUE_WORDS = {"1", "true", "t", "yes", "y", "on"}
FALSE_WORDS = {"0", "false", "f", "no", "n", "off"}


def parse_datetime(text, allow_numeric=False):
    """Parse an ISO 8601 date or datetime into an aware datetime.

    A date without a time is midnight UTC; a naive time is UTC.  With
    allow_numeric, a number is a unix timestamp (pydantic accepts those).
    Raises ValueError."""
    if not isinstance(text, str):
        raise ValueError("not a string")
    s = text.strip()
    if not s or s != text:
        raise ValueError("empty or padded")
    if allow_numeric and NUMBER_RE.match(s):
        return datetime.fromtimestamp(float(s), tz=UTC)
    if DATE_ONLY_RE.match(s):
        d = date.fromisoformat(s)
        return datetime(d.year, d.month, d.day, tzinfo=UTC)
    if s[-1] in "Zz":
        s = s[:-1] + "+00:00"
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt


_EPOCH_CACHE = {}


def epoch_of(value):
    """Seconds since the epoch of a timestamp string, or None if unparseable."""
    if not isinstance(value, str):
        return None
    hit = _EPOCH_CACHE.get(value)
    if hit is None and value not in _EPOCH_CACHE:
        try:
            hit = parse_datetime(value).timestamp()
        except (ValueError, OverflowError):
            hit = None
        if len(_EPOCH_CACHE) > 200000:
            _EPOCH_CACHE.clear()
        _EPOCH_CACHE[value] = hit
    return hit


def iso_now():
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# Timestamp styles used by the generator: every one of them occurs in the data.
TS_STYLES = ["Z", "Z.ms", "Z.us", "+00:00", "+00:00.us", "+05:30", "-08:00.ms", "+09:00"]


def fmt_ts(dt, style):
    """Format an aware datetime in one of TS_STYLES."""
    offset_part, _, frac = style.partition(".")
    if offset_part == "Z" or offset_part == "+00:00":
        local = dt.astimezone(UTC)
    else:
        sign = 1 if offset_part[0] == "+" else -1
        hh, mm = int(offset_part[1:3]), int(offset_part[4:6])
        local = dt.astimezone(timezone(sign * timedelta(hours=hh, minutes=mm)))
    s = local.strftime("%Y-%m-%dT%H:%M:%S")
    if frac == "ms":
        s += ".%03d" % (local.microsecond // 1000)
    elif frac == "us":
        s += ".%06d" % local.microsecond
    return s + ("Z" if offset_part == "Z" else offset_part)


def dump_json_bytes(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def pick(obj, keys):
    if not isinstance(obj, dict):
        return obj
    return {k: obj[k] for k in keys if k in obj}


def public(obj):
    """Drop internal (leading underscore) fields, recursively."""
    if isinstance(obj, dict):
        return {k: public(v) for k, v in obj.items() if not (isinstance(k, str) and k.startswith("_"))}
    if isinstance(obj, list):
        return [public(v) for v in obj]
    return obj


class Reply:
    """One answer: status, headers, payload (JSON-able) or raw body, delivery mode."""

    def __init__(self, status, payload=None, headers=None, raw=None):
        self.status = status
        self.payload = payload
        self.headers = list(headers or [])
        self.raw = raw            # bytes: sent as is instead of the payload
        self.mode = None          # None | "truncate" | "drop"
        self.fault = None         # name of the fault applied, for logs and stats
        self.transcript = False   # consumed the transcript budget

    def body(self):
        if self.status == 204:
            return b""
        if self.raw is not None:
            return self.raw
        return dump_json_bytes(self.payload)
