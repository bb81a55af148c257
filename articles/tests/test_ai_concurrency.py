"""200 simultaneous AI actions over the API against one wallet (docs/rules.md: Balance
equals the ledger; Never below zero, however many at once; A failed action costs nothing).

Real threads, each with its own APIClient (the same user's JWT) and its own database
connection: MariaDB's row locks are the only arbiter.
"""

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory
from articles.tests.factories import ARTICLE_TEXT

CALLS = 200
THREADS = 16


@pytest.mark.locks
@pytest.mark.django_db(transaction=True)
def test_200_concurrent_seo_titles_spend_exactly_the_balance(client_for, wallet_state):
    user = UserFactory()  # 10,000 tokens: 33 titles at 300, 100 left
    authorization = client_for(user)._credentials["HTTP_AUTHORIZATION"]

    def call(_):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=authorization)
        try:
            response = client.post(
                "/api/ai/generate-seo-title", {"text": ARTICLE_TEXT}, format="json"
            )
            return response.status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        statuses = Counter(pool.map(call, range(CALLS)))

    assert statuses == {200: 33, 402: 167}
    assert wallet_state(user) == {
        "balance": 100,
        "ledger_sum": 100,
        "usage_rows": 33,
        "open_holds": 0,
    }
