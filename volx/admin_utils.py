"""Admin lists that stay fast on tables with millions of rows.

Django's changelist asks its paginator for `count`, which is `SELECT COUNT(*)`: on InnoDB
that reads a whole index, seconds on a million rows, on every page load. An unfiltered
list does not need the exact number ("page 1 of about 10,000" is what the operator
uses), so the paginator here takes the row count the database keeps in its statistics
and counts exactly only when a filter or a search narrowed the list (or the table is
small, where counting is cheap and the statistics may lag behind). A filter can still
match most of a big table (the free plan: 85 % of users, a join per row: about a second),
so a filtered list is counted up to EXACT_COUNT_BELOW rows, and past that the count is
the planner's estimate for the same query.
"""

from __future__ import annotations

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Model, QuerySet
from django.utils.functional import cached_property

# Below this many rows (by the statistics) an exact COUNT(*) is cheap, and InnoDB's
# estimate of a small, freshly written table can be far off (even 0), so count.
EXACT_COUNT_BELOW = 10_000


def estimated_row_count(model: type[Model], using: str = "default") -> int | None:
    """The table's row count from the database statistics, or None where there are none.

    MySQL/MariaDB keep it in `information_schema.TABLES.TABLE_ROWS` (for InnoDB a sampled
    estimate, refreshed by `ANALYZE TABLE` and as the table changes). SQLite, the
    development default, keeps none: callers fall back to counting.
    """
    connection = connections[using]
    if connection.vendor != "mysql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT TABLE_ROWS FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s",
            [model._meta.db_table],
        )
        row = cursor.fetchone()
    return int(row[0]) if row and row[0] is not None else None


def planned_row_count(queryset: QuerySet) -> int | None:
    """How many rows MariaDB/MySQL's planner expects `queryset` to return (EXPLAIN), or None.

    For each table of the join, the rows it expects to read times the share of them it
    expects to keep (`filtered`); multiplied. Estimated from the index statistics, without
    running the query; unordered, so the planner picks the filter's index. MariaDB's plain
    EXPLAIN has no `filtered` (only its EXPLAIN EXTENDED, which MySQL 8 refuses): there the
    estimate is the rows read, an upper bound, which is close for the indexed filters of
    LargeTableAdmin lists, and only ever shown as "about N" past EXACT_COUNT_BELOW.
    """
    connection = connections[queryset.db]
    if connection.vendor != "mysql":
        return None
    sql, params = queryset.order_by().query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        columns = [c[0] for c in cursor.description]
        plans = [dict(zip(columns, plan, strict=True)) for plan in cursor.fetchall()]
    estimate = 1.0
    for plan in plans:
        estimate *= float(plan["rows"] or 1) * float(plan.get("filtered") or 100) / 100
    return round(estimate)


class EstimatedCountPaginator(Paginator):
    """A paginator whose `count` is estimated where counting exactly would read a big table."""

    estimated = False  # True once `count` is an estimate: the list then says "about N"

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return super().count
        if not queryset.query.has_filters():
            estimate = estimated_row_count(queryset.model, using=queryset.db)
            if estimate is not None and estimate >= EXACT_COUNT_BELOW:
                self.estimated = True
                return estimate
            return super().count
        # Filtered: exact up to EXACT_COUNT_BELOW (the COUNT reads at most that many rows).
        counted = queryset[:EXACT_COUNT_BELOW].count()
        if counted < EXACT_COUNT_BELOW:
            return counted
        planned = planned_row_count(queryset)
        if planned is None:  # SQLite: no planner estimate
            return super().count
        self.estimated = True
        return max(counted, planned)


class LargeTableAdmin(admin.ModelAdmin):
    """Settings for the admin of a table that may hold millions of rows.

    No exact COUNT(*) of the unfiltered table (the paginator above; no "N total" next to
    a filtered count) and no facet counts per filter choice (one COUNT per choice).
    Subclasses keep `list_filter`, `search_fields` and `sortable_by` to indexed columns.
    """

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER


class ReadOnlyAdmin(LargeTableAdmin):
    """A record kept for the operator to read (ledger, usage, webhook events): rows are
    shown, never added, edited or deleted in the admin."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
