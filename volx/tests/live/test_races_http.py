"""200 simultaneous AI actions for one wallet, over HTTP, against gunicorn worker
processes (docs/rules.md: Balance equals the ledger; Never below zero, however many at
once; A failed action costs nothing): the races between processes and between hosts.

The in-process test (articles/tests/test_ai_concurrency.py) races threads of one Python
process; here each request is handled by one of several gunicorn workers, or by one of
two servers sharing the database, so the only thing that can serialise the debits is
MariaDB's lock on the user's row, taken by the wallet.

Shown to fail without that lock (run by hand, 3 times each; not kept in the suite):

- the wallet of a552411 (`SELECT … FOR UPDATE` in `Wallet._lock`), with
  `.select_for_update()` deleted: 200 × 60, 402 × 13, 500 × 127; 60 usage rows (18,000
  tokens spent from 10,000), the balance 100 but the ledger sum −8,000. The other runs:
  200 × 63 / 402 × 20 / 500 × 117 and 200 × 52 / 402 × 56 / 500 × 92.
- the wallet of c4fe9a0 (one conditional `UPDATE … WHERE tokens_remaining + delta >= 0`
  in `Wallet._apply`), that statement replaced in every worker by a read, a check in
  Python and an UPDATE (a `post_worker_init` hook passed as
  `GUNICORN_CMD_ARGS="-c hook.py"`): 200 × 95 / 91 / 96, 402 for the rest; the balance
  100, the ledger sum −18,500 / −17,300 / −18,800.

With the lock: 200 × 33 and 402 × 167 on every run.
"""

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.tests.factories import UserFactory
from articles.tests.factories import ARTICLE_TEXT

CALLS = 200
CLIENTS = 16
TIMEOUT = 120  # seconds per request: the machine is shared, slow is not wrong


def seo_titles(urls: list[str], user, calls: int = CALLS) -> Counter:
    """`calls` concurrent POST /api/ai/generate-seo-title, spread round-robin over `urls`."""
    headers = {"Authorization": f"Bearer {RefreshToken.for_user(user).access_token}"}

    def call(number: int) -> int:
        url = urls[number % len(urls)]
        response = requests.post(
            f"{url}/api/ai/generate-seo-title",
            json={"text": ARTICLE_TEXT},
            headers=headers,
            timeout=TIMEOUT,
        )
        return response.status_code

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        statuses = Counter(pool.map(call, range(calls)))
    elapsed = time.monotonic() - started
    print(f"{calls} requests in {elapsed:.1f}s ({calls / elapsed:.0f}/s): {dict(statuses)}")
    return statuses


@pytest.mark.locks
@pytest.mark.django_db(transaction=True)
def test_200_seo_titles_over_gunicorn_workers(gunicorn_server, wallet_state):
    server = gunicorn_server()
    user = UserFactory()  # 10,000 tokens: 33 titles at 300, 100 left

    statuses = seo_titles([server.url], user)

    assert statuses == {200: 33, 402: 167}
    assert wallet_state(user) == {
        "balance": 100,
        "ledger_sum": 100,
        "usage_rows": 33,
        "open_holds": 0,
    }


@pytest.mark.locks
@pytest.mark.django_db(transaction=True)
def test_200_seo_titles_over_two_app_hosts(gunicorn_server, wallet_state):
    """Two servers sharing the database, as two app hosts behind a load balancer."""
    hosts = [gunicorn_server(), gunicorn_server()]
    user = UserFactory()

    statuses = seo_titles([host.url for host in hosts], user)

    assert statuses == {200: 33, 402: 167}
    assert wallet_state(user) == {
        "balance": 100,
        "ledger_sum": 100,
        "usage_rows": 33,
        "open_holds": 0,
    }
