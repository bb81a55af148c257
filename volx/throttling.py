"""API throttles: rates per `throttle_scope`, counted in the default cache."""

from rest_framework import throttling
from rest_framework.settings import api_settings


class ScopedRateThrottle(throttling.ScopedRateThrottle):
    """DRF's scoped throttle, reading the rate when a request comes rather than when DRF
    is imported (`SimpleRateThrottle.THROTTLE_RATES`), so that a changed
    REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] (a test, override_settings) takes effect.
    A scope without a rate is a configuration error (KeyError), never "unthrottled"."""

    def get_rate(self) -> str:
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]
