"""Login lockout per client address, beside the per-account one: wrong passwords for many
accounts from one address (password spraying) lock that address out of every login, on
the API, the login page and the admin's login alike. The address's limit is higher than an
account's, since an office or a carrier's NAT puts many people behind one address. The
address is the one the throttles use: REMOTE_ADDR, or X-Forwarded-For behind NUM_PROXIES
proxies, never a header the client could set itself."""

import pytest
from django.core.management import call_command

from accounts.tests.factories import AdminFactory, UserFactory

PASSWORD = "Correct-Horse-42"
ADDRESS_LIMIT = 6  # small for the tests; the default is checked below
ATTACKER = "203.0.113.7"
NEIGHBOUR = "198.51.100.9"


@pytest.fixture(autouse=True)
def address_limit(settings):
    settings.LOGIN_LOCKOUT_ADDRESS_FAILURES = ADDRESS_LIMIT


@pytest.fixture
def victims(db):
    return [UserFactory(username=f"victim{n}", password=PASSWORD) for n in range(ADDRESS_LIMIT)]


def api_login(client, login, password=PASSWORD, **headers):
    return client.post(
        "/api/auth/login", {"login": login, "password": password}, format="json", **headers
    )


def page_login(client, login, password=PASSWORD, path="/login/", **headers):
    return client.post(path, {"username": login, "password": password}, **headers)


def spray(client, victims, via=api_login, **headers) -> list[int]:
    """One wrong password for each account, far below any account's own limit."""
    return [via(client, v.username, "wrong-password", **headers).status_code for v in victims]


def test_the_limits_come_from_the_environment_with_safe_defaults():
    from volx import settings  # what it read, not the fixture's value

    assert settings.LOGIN_LOCKOUT_ADDRESS_FAILURES == 50  # LOGIN_LOCKOUT_ADDRESS_FAILURES
    assert settings.AXES_FAILURE_LIMIT == 30  # per account: LOGIN_LOCKOUT_FAILURES


def test_wrong_passwords_for_many_accounts_lock_the_address(victims, api_client):
    UserFactory(username="ana", password=PASSWORD)

    statuses = spray(api_client, victims, REMOTE_ADDR=ATTACKER)

    assert statuses == [401] * (ADDRESS_LIMIT - 1) + [429]
    # Every login from that address is refused now, the right password of another account too …
    response = api_login(api_client, "ana", REMOTE_ADDR=ATTACKER)
    assert response.status_code == 429
    assert "token" not in response.json()
    # … and only from that address.
    assert api_login(api_client, "ana", REMOTE_ADDR=NEIGHBOUR).status_code == 200
    assert api_login(api_client, "victim0", REMOTE_ADDR=NEIGHBOUR).status_code == 200


def test_the_page_the_admin_and_the_api_count_together(victims, api_client, client):
    AdminFactory(username="boss", password=PASSWORD)
    third = ADDRESS_LIMIT // 3
    spray(api_client, victims[:third], REMOTE_ADDR=ATTACKER)
    spray(client, victims[third : 2 * third], via=page_login, REMOTE_ADDR=ATTACKER)
    admin_login = lambda c, u, p, **h: page_login(c, u, p, "/admin/login/", **h)  # noqa: E731
    spray(client, victims[2 * third :], via=admin_login, REMOTE_ADDR=ATTACKER)

    assert page_login(client, "boss", REMOTE_ADDR=ATTACKER).status_code == 429
    assert page_login(client, "boss", path="/admin/login/", REMOTE_ADDR=ATTACKER).status_code == 429
    assert page_login(client, "boss", REMOTE_ADDR=NEIGHBOUR).status_code == 302


def test_logging_in_to_an_own_account_does_not_clear_the_address(victims, api_client):
    UserFactory(username="mallory", password=PASSWORD)
    half = ADDRESS_LIMIT // 2
    spray(api_client, victims[:half], REMOTE_ADDR=ATTACKER)
    assert api_login(api_client, "mallory", REMOTE_ADDR=ATTACKER).status_code == 200

    statuses = spray(api_client, victims[half:], REMOTE_ADDR=ATTACKER)

    assert statuses[-1] == 429


def test_a_forged_x_forwarded_for_does_not_make_a_new_address(victims, api_client):
    statuses = [
        api_login(
            api_client,
            victim.username,
            "wrong-password",
            REMOTE_ADDR=ATTACKER,
            HTTP_X_FORWARDED_FOR=f"10.0.0.{n}",
        ).status_code
        for n, victim in enumerate(victims)
    ]

    assert statuses[-1] == 429  # NUM_PROXIES=0: the header is not trusted


def test_behind_a_proxy_each_client_is_its_own_address(victims, api_client, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    proxy = "10.0.0.1"

    spray(api_client, victims, REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=ATTACKER)

    locked = api_login(api_client, "victim0", REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=ATTACKER)
    assert locked.status_code == 429
    # Another client behind the same proxy (a spoofed first hop is ignored: the proxy's
    # own, last, entry names the client).
    other = api_login(
        api_client, "victim0", REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=f"{ATTACKER}, {NEIGHBOUR}"
    )
    assert other.status_code == 200


def test_an_admin_unlocks_an_address(victims, api_client):
    spray(api_client, victims, REMOTE_ADDR=ATTACKER)

    call_command("axes_reset_ip", ATTACKER, verbosity=0)

    assert api_login(api_client, "victim0", REMOTE_ADDR=ATTACKER).status_code == 200
