"""The system check that refuses a MariaDB or MySQL server too old for Volx."""

from types import SimpleNamespace

import pytest
from django.core.checks import Tags, run_checks
from django.db import connection

from volx import checks


def server(vendor: str = "mysql", mariadb: bool = True, version: tuple = (10, 11, 9)):
    return SimpleNamespace(vendor=vendor, mysql_is_mariadb=mariadb, mysql_version=version)


@pytest.fixture
def databases(monkeypatch):
    """Replace the connections the check asks with fakes, by alias."""
    fakes = {}
    monkeypatch.setattr(checks, "connections", fakes)
    return fakes


@pytest.mark.parametrize(
    "mariadb, version, refused",
    [
        (True, (10, 5, 27), True),
        (True, (10, 6, 0), False),
        (True, (11, 4, 2), False),
        (False, (5, 7, 44), True),
        (False, (8, 0, 36), False),
        (False, (8, 4, 0), False),
    ],
)
def test_servers_older_than_mariadb_10_6_or_mysql_8_0_are_refused(
    databases, mariadb, version, refused
):
    databases["default"] = server(mariadb=mariadb, version=version)

    errors = checks.check_database_version(databases=["default"])

    assert [error.id for error in errors] == (["volx.E001"] if refused else [])
    if refused:
        name = "MariaDB 10.6" if mariadb else "MySQL 8.0"
        assert f"Volx needs {name} or newer" in errors[0].msg
        assert ".".join(map(str, version)) in errors[0].msg


def test_sqlite_is_not_asked(databases):
    databases["default"] = server(vendor="sqlite", version=(1,))
    assert checks.check_database_version(databases=["default"]) == []


def test_without_a_database_to_ask_nothing_connects(databases):
    """`manage.py check` at build time: no --database, so no server is needed."""
    assert checks.check_database_version(databases=None) == []
    assert [e.id for e in run_checks(tags=[Tags.database])] == []


@pytest.mark.django_db
def test_the_test_server_is_supported():
    errors = run_checks(tags=[Tags.database], databases=["default"])
    assert [e for e in errors if e.id == "volx.E001"] == []
    if connection.vendor == "mysql":
        assert checks.check_database_version(databases=["default"]) == []
