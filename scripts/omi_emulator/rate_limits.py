"""Rate limits: the default limits and windows of both profiles, a fixed
window Bucket, the RateLimiter that holds them, and the Emulator's methods
that pick a request's buckets and answer 429 in the profile's dialect."""

import math


DEFAULT_LIMITS = {
    # documented profile
    "minute": 100,          # requests per minute per key
    "day": 10000,           # requests per day per user
    # backend profile (per hour per user)
    "memories": 120,
    "action_items": 120,
    "conversations": 60,
    "conversation": 60,
    "transcripts": 25,
    "goals": 120,           # list, one goal and history share dev:goals_read
}
WINDOW_SECONDS = {"minute": 60.0, "day": 86400.0, "hour": 3600.0}
BUCKET_WINDOW = {
    "minute": "minute", "day": "day", "memories": "hour", "action_items": "hour",
    "conversations": "hour", "conversation": "hour", "transcripts": "hour", "goals": "hour",
}


class Bucket:
    """A fixed window that starts with the first request after the last one ended."""

    def __init__(self, limit, window):
        self.limit = limit
        self.window = window
        self.start = None
        self.used = 0

    def _roll(self, now):
        if self.start is None or now >= self.start + self.window:
            self.start = now
            self.used = 0

    def remaining(self, now):
        self._roll(now)
        return max(0, self.limit - self.used)

    def reset_at(self, now):
        self._roll(now)
        return self.start + self.window

    def consume(self, now):
        self._roll(now)
        self.used += 1

    def state(self, now):
        return {"limit": self.limit, "window_seconds": self.window,
                "remaining": self.remaining(now), "reset_in": round(self.reset_at(now) - now, 3)}


class RateLimiter:
    def __init__(self, limits, window_scale):
        self.limits = dict(limits)
        self.windows = {name: secs * window_scale for name, secs in WINDOW_SECONDS.items()}
        self.buckets = {}

    def bucket(self, name, who="user"):
        key = (name, who)
        b = self.buckets.get(key)
        if b is None:
            b = self.buckets[key] = Bucket(self.limits[name], self.windows[BUCKET_WINDOW[name]])
        return b

    def reset(self):
        self.buckets.clear()

    def state(self, now):
        return {"%s%s" % (name, "" if who == "user" else ":" + who[:14]): b.state(now)
                for (name, who), b in sorted(self.buckets.items())}


class RateLimitMixin:
    """The Emulator's rate-limit methods."""

    def policy_buckets(self, template, key, include_transcript):
        if self.profile == "documented":
            return [self.limiter.bucket("minute", key["key"]), self.limiter.bucket("day")]
        names = {"/user/memories": ["memories"], "/user/action-items": ["action_items"],
                 "/user/conversations": ["conversations"], "/user/conversations/{id}": ["conversation"],
                 "/user/goals": ["goals"], "/user/goals/{id}": ["goals"], "/user/goals/{id}/history": ["goals"]}
        got = list(names.get(template, []))
        if include_transcript and template.startswith("/user/conversations"):
            got.append("transcripts")
        return [self.limiter.bucket(n) for n in got]

    def documented_headers(self, buckets, now, exhausted=None):
        if not buckets:
            b = Bucket(self.limiter.limits["minute"], self.limiter.windows["minute"])
        elif exhausted is not None:
            b = exhausted
        else:
            b = min(buckets, key=lambda x: x.remaining(now))     # min() keeps the first (minute) on ties
        remaining = 0 if exhausted is not None else b.remaining(now)
        return [("X-RateLimit-Limit", str(b.limit)), ("X-RateLimit-Remaining", str(remaining)),
                ("X-RateLimit-Reset", str(int(math.ceil(b.reset_at(now)))))]

    def rate_limited(self, bucket, now):
        retry = max(1, int(math.ceil(bucket.reset_at(now) - now)))
        if self.profile == "documented":
            hdrs = self.documented_headers([bucket], now, exhausted=bucket)
            return self.error(429, "Rate limit exceeded. Try again later.", "rate_limit_exceeded", headers=hdrs)
        hdrs = [("Retry-After", str(retry)), ("X-RateLimit-Limit", str(bucket.limit)),
                ("X-RateLimit-Remaining", "0")]
        return self.error(429, "Rate limit exceeded. Retry after %d seconds." % retry, headers=hdrs)
