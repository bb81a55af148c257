"""System checks of what Volx needs from its environment."""

from __future__ import annotations

from django.core.checks import Error, Tags, register
from django.db import connections

from accounts.signals import user_registered
from payments.signals import payment_confirmed, payment_refunded
from tokens.signals import balance_lowered

# The oldest servers Volx runs on. MariaDB 10.6 is the first with SELECT … FOR UPDATE SKIP
# LOCKED (the expiry job on several hosts at once); MySQL 8.0 has it, and is also the
# oldest MySQL that Django 5.2 supports.
MINIMUM_VERSIONS = {"MariaDB": (10, 6), "MySQL": (8, 0)}


@register(Tags.database)
def check_database_version(app_configs=None, databases=None, **kwargs) -> list[Error]:
    """Refuse a MariaDB or MySQL server older than MINIMUM_VERSIONS.

    A database check: it runs only when told which databases to ask (`manage.py check
    --database default`, `migrate`), so that `check` at build time needs no server.
    """
    errors = []
    for alias in databases or ():
        connection = connections[alias]
        if connection.vendor != "mysql":
            continue
        server = "MariaDB" if connection.mysql_is_mariadb else "MySQL"
        minimum, found = MINIMUM_VERSIONS[server], connection.mysql_version
        if tuple(found[:2]) < minimum:
            errors.append(
                Error(
                    f"Database {alias!r} is {server} {_dotted(found)}; Volx needs "
                    f"{server} {_dotted(minimum)} or newer.",
                    hint="Supported servers: MariaDB 10.6 or newer, MySQL 8.0 or newer.",
                    id="volx.E001",
                )
            )
    return errors


def _dotted(version: tuple[int, ...]) -> str:
    return ".".join(str(part) for part in version)


# The signals by which one app tells another to do its part of an operation, each with the
# receiver (by dispatch_uid) without which that part silently does not happen.
REQUIRED_RECEIVERS = [
    (user_registered, "subscriptions.start_free_plan", "new users get no plan and no tokens"),
    (payment_confirmed, "subscriptions.apply_paid_plan", "confirmed payments grant nothing"),
    (payment_refunded, "subscriptions.revert_refunded_plan", "refunds keep the paid plan"),
    (balance_lowered, "subscriptions.notice_low_balance", "no low-balance e-mail is sent"),
]


@register()
def check_required_receivers(app_configs=None, **kwargs) -> list[Error]:
    """Fail at start-up when a required receiver is not connected (an app left out of
    INSTALLED_APPS, a renamed dispatch_uid, a receiver module nobody imports)."""
    errors = []
    for signal, dispatch_uid, consequence in REQUIRED_RECEIVERS:
        if not any(key[0] == dispatch_uid for key, *_ in signal.receivers):
            errors.append(
                Error(
                    f"No receiver {dispatch_uid!r} is connected: {consequence}.",
                    hint="It is connected by its app's AppConfig.ready() (signals.py).",
                    id="volx.E002",
                )
            )
    return errors
