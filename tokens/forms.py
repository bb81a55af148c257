from datetime import date, datetime, time, timedelta

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from articles.actions import ACTIONS

FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(9998, 12, 31)
DAY_BOUNDS = [MinValueValidator(FIRST_DAY), MaxValueValidator(LAST_DAY)]


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)  # what <input type="date"> sends


class UsageFilterForm(forms.Form):
    """/usage/ and its CSV export: by action and by a range of days (both ends included)."""

    action = forms.ChoiceField(
        label=_("Action"),
        required=False,
        choices=[("", _("All actions"))] + [(a.name, a.label) for a in ACTIONS.values()],
    )
    # Bounded: the filter reaches one day past its end (9999-12-31 has no next day) and
    # the time zone's offset either side of a day's midnight.
    date_from = forms.DateField(
        label=_("From"), required=False, widget=DateInput(), validators=DAY_BOUNDS
    )
    date_to = forms.DateField(
        label=_("To"), required=False, widget=DateInput(), validators=DAY_BOUNDS
    )

    def clean(self) -> dict:
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", _("The end date is before the start date."))
        return data

    def filter(self, usage: QuerySet) -> QuerySet:
        """`usage` narrowed by the valid filters (an invalid one is shown and ignored).

        Days are whole days in the current time zone, turned into a created_at range so
        that the (user, created_at) index serves the query.
        """
        data = getattr(self, "cleaned_data", {})  # set by is_valid()
        if action := data.get("action"):
            usage = usage.filter(action=action)
        if start := data.get("date_from"):
            usage = usage.filter(created_at__gte=start_of(start))
        if end := data.get("date_to"):
            usage = usage.filter(created_at__lt=start_of(end + timedelta(days=1)))
        return usage


def start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())
