"""API throttles: rates per `throttle_scope`, counted in the database (volx/models.py)."""

import hashlib

from rest_framework import throttling
from rest_framework.settings import api_settings

from volx.models import ThrottleWindow


class ScopedRateThrottle(throttling.ScopedRateThrottle):
    """DRF's scoped throttle (a view's `throttle_scope`, per user or client address),
    counting in fixed windows in the database instead of a request log in the cache.

    The log costs a cache read and a write per request, and Django's database cache
    counts its whole table at every write (its cull), which grows with the users. A
    window costs one UPDATE, and its row lock counts concurrent requests exactly. A rate
    of 120/minute admits 120 requests in each clock minute, so up to twice that across
    the turn of a minute.

    The rate is read when a request comes rather than when DRF is imported
    (`SimpleRateThrottle.THROTTLE_RATES`), so that a changed
    REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] (a test, override_settings) takes effect.
    A scope without a rate is a configuration error (KeyError), never "unthrottled"."""

    def get_rate(self) -> str:
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]

    def allow_request(self, request, view) -> bool:
        self.scope = getattr(view, self.scope_attr, None)
        if not self.scope:
            return True
        self.num_requests, self.duration = self.parse_rate(self.get_rate())
        self.now = self.timer()
        window = int(self.now) // self.duration * self.duration
        key = self.get_cache_key(request, view)
        if len(key) > ThrottleWindow.KEY_LENGTH:  # behind NUM_PROXIES, a long forwarded entry
            key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
        return ThrottleWindow.objects.count_request(key, window, self.num_requests)

    def wait(self) -> float:
        """Seconds until the window ends (Retry-After)."""
        return self.duration - self.now % self.duration
