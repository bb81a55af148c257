"""A signed-in user's pages in the language and the time zone of their account."""

import zoneinfo

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.utils import timezone, translation

from volx.middleware import is_api


class AccountPreferencesMiddleware:
    """After AuthenticationMiddleware: the account's time zone, and its language unless
    this browser chose one (the language cookie: the header's switcher, which stores the
    choice on the account too, and the account page set it). So a new device opens in the
    account's language, and a choice made before logging in is kept. Pages only: the API
    answers the same to every client, and its users come from JWTs, which no middleware
    has read yet."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self._call_async(request)
        if is_api(request) or not request.user.is_authenticated:
            return self.get_response(request)
        with self.preferences(request, request.user):
            return self.get_response(request)

    async def _call_async(self, request):
        if is_api(request):
            return await self.get_response(request)
        user = await request.auser()
        if not user.is_authenticated:
            return await self.get_response(request)
        with self.preferences(request, user):
            return await self.get_response(request)

    @staticmethod
    def preferences(request, user):
        if settings.LANGUAGE_COOKIE_NAME not in request.COOKIES:
            translation.activate(user.language)
            request.LANGUAGE_CODE = user.language
        try:
            zone = zoneinfo.ZoneInfo(user.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            zone = timezone.get_default_timezone()
        return timezone.override(zone)
