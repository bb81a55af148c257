"""Error answers of the whole site."""

import sys

from django.http import HttpResponse, JsonResponse
from django.template import loader
from django.utils.translation import gettext as _
from django.views import defaults

from volx.db import RETRY_AFTER_SECONDS, is_unavailable
from volx.middleware import is_api


def server_error(request):
    """Django's handler500, called while the request's exception is being handled: a
    database that cannot be reached, or is still busy after the retries, is a 503 with
    Retry-After, which changed nothing (volx/db.py says how each path stays
    exactly-once); any other error is Django's 500."""
    if not is_unavailable(sys.exc_info()[1]):
        return defaults.server_error(request)
    message = _("The service is busy or its database is unavailable. Please try again shortly.")
    if is_api(request):
        response = JsonResponse({"error": message}, status=503)
    else:  # without a request context, as Django's 500: the database may be what failed
        response = HttpResponse(loader.render_to_string("503.html"), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
