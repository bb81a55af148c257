"""The throttles hold across worker processes and hosts: their counters are in the
database the processes share (table volx_throttle), not in each process's memory, where N
workers would allow N times the rate."""

from collections import Counter

import pytest
import requests

from accounts.models import User

RATE = 5
CALLS = 20
PASSWORD = "Correct-Horse-42"


@pytest.mark.locks
@pytest.mark.django_db(transaction=True)
def test_the_registration_rate_holds_across_workers_and_hosts(gunicorn_server):
    env = {"THROTTLE_REGISTER": f"{RATE}/hour", "WEB_CONCURRENCY": "2"}
    # Two servers of two workers each, alternated: requests surely reach several
    # processes (within one server the kernel picks the worker, each on a new connection).
    urls = [gunicorn_server(**env).url, gunicorn_server(**env).url]

    statuses = Counter(
        requests.post(
            f"{urls[n % 2]}/api/auth/register",
            json={"email": f"u{n}@example.com", "username": f"u{n}", "password": PASSWORD},
            headers={"Connection": "close"},
            timeout=60,
        ).status_code
        for n in range(CALLS)
    )

    assert statuses == {201: RATE, 429: CALLS - RATE}
    assert User.objects.filter(username__startswith="u").count() == RATE
