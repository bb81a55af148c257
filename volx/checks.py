"""System checks of what Volx needs from its environment."""

from __future__ import annotations

from django.core.checks import Error, Tags, register
from django.db import connections

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
