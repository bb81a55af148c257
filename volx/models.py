"""The API throttles' counters (volx/throttling.py), in the database so that every worker
process and host counts together."""

from django.db import IntegrityError, models, transaction
from django.db.models import Case, F, Q, Value, When


class ThrottleWindowQuerySet(models.QuerySet):
    def count_request(self, key: str, window: int, limit: int) -> bool:
        """Count one request of `key` in the fixed window starting at `window` (epoch
        seconds) if fewer than `limit` are counted there: True if it was counted.

        One UPDATE in the usual case; the row lock it takes makes concurrent requests
        count one after another, so exactly `limit` pass in a window. The first request
        of a key inserts its row."""

        def count_in_row() -> bool:
            # `hits` before `window`: MySQL assigns left to right, so that its CASE reads
            # the window as it was, as SQLite's does.
            return bool(
                self.filter(Q(key=key), ~Q(window=window) | Q(hits__lt=limit)).update(
                    hits=Case(When(window=window, then=F("hits") + 1), default=Value(1)),
                    window=window,
                )
            )

        if limit < 1:
            return False
        if count_in_row():
            return True
        try:
            with transaction.atomic():
                self.create(key=key, window=window, hits=1)
            return True
        except IntegrityError:  # the row was there: full, or made meanwhile by another
            return count_in_row()


class ThrottleWindow(models.Model):
    """A throttled client's (scope and user or address) current window, and the requests
    counted in it. One row per client, reused from window to window."""

    KEY_LENGTH = 100

    key = models.CharField(max_length=KEY_LENGTH, primary_key=True)
    window = models.BigIntegerField()
    hits = models.PositiveIntegerField()

    objects = ThrottleWindowQuerySet.as_manager()

    class Meta:
        db_table = "volx_throttle"

    def __str__(self) -> str:
        return f"{self.key}: {self.hits} since {self.window}"
