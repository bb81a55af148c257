"""Numbers in the reader's language: `{{ 10000|number }}` → 10,000 (en) or 10.000 (vi).

Django's `intcomma` and `floatformat:"g"` group digits only for languages whose format
module sets NUMBER_GROUPING, and Vietnamese's does not (they print "10000"). These filters
take the separators from the active language and always group by thousands.
"""

from decimal import Decimal, InvalidOperation

from django import template
from django.utils import numberformat
from django.utils.formats import get_format

register = template.Library()


def _format(value, decimal_pos: int | None) -> str:
    return numberformat.format(
        value,
        get_format("DECIMAL_SEPARATOR"),
        decimal_pos=decimal_pos,
        grouping=3,
        thousand_sep=get_format("THOUSAND_SEPARATOR"),
        force_grouping=True,
    )


@register.filter(is_safe=True)
def number(value) -> str:
    """A whole number (a token count) with thousands separators."""
    try:
        return _format(int(value), None)
    except (TypeError, ValueError):
        return value


@register.filter(is_safe=True)
def amount(value) -> str:
    """Money: no decimals when whole (50), else two (9.50 / 9,50), thousands grouped."""
    try:
        value = Decimal(value)
    except (TypeError, ValueError, InvalidOperation):
        return value
    return _format(value, 0 if value == value.to_integral_value() else 2)
