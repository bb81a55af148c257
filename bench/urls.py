"""The application's URLs plus /bench/floor, served only by `make bench`.

The floor view is what a bare DRF view with JWT authentication costs when all it does
is the baseline SQL of bench/db.py: the framework's share of a request, measured in the
same run as the AI action so the two can be compared.
"""

from django.db import connection, transaction
from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from bench.db import BASELINE_SQL, COST
from volx.urls import urlpatterns as app_urlpatterns


class FloorView(APIView):
    def post(self, request):
        update, insert = BASELINE_SQL
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(update, [COST, request.user.pk, COST])
            cursor.execute(insert, [COST, request.user.pk])
        return Response({"ok": True})


urlpatterns = [*app_urlpatterns, path("bench/floor", FloorView.as_view())]
