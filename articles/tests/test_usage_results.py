"""Each usage row keeps the result it paid for (docs/rules.md, Charging for AI actions):
written with the row at settlement, shown on the usage page, in the CSV."""

import csv
import io

import pytest

from articles.actions import result_text
from articles.tests.factories import ARTICLE_TEXT, ArticleFactory
from tokens.models import TokenUsage
from tokens.wallet import Wallet

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path", ["/api/ai/generate-seo-title", "/api/ai/generate-meta-description", "/api/ai/rewrite"]
)
def test_the_usage_row_keeps_the_text_result(api, user, path):
    answer = api.post(path, {"text": ARTICLE_TEXT}, format="json").json()

    usage = TokenUsage.objects.get(user=user)
    assert usage.result == answer["result"] != ""


def test_a_streamed_result_is_kept_too(api, user):
    response = api.post(
        "/api/ai/generate-seo-title", {"text": ARTICLE_TEXT, "stream": True}, format="json"
    )
    body = b"".join(response).decode()  # the test client collects the whole stream

    usage = TokenUsage.objects.get(user=user)
    assert usage.result and f'"result": "{usage.result}"' in body


def test_find_image_keeps_its_queries_one_a_line(api, user):
    answer = api.post("/api/ai/find-image", {"text": ARTICLE_TEXT}, format="json").json()["result"]

    lines = TokenUsage.objects.get(user=user).result.splitlines()
    assert lines[0] == answer["query"]
    assert set(lines) == {answer["query"], *answer["suggestions"]}


def test_result_text():
    assert result_text("A title") == "A title"
    assert result_text({"query": "coffee", "suggestions": ["beans", "kettle"]}) == (
        "coffee\nbeans\nkettle"
    )


def test_a_failed_action_keeps_nothing(api, user, monkeypatch):
    from articles.providers.base import ProviderError
    from articles.providers.local import LocalProvider

    async def fail(self, action, text, on_delta=None):
        raise ProviderError("down")

    monkeypatch.setattr(LocalProvider, "answer", fail)

    assert api.post("/api/ai/rewrite", {"text": ARTICLE_TEXT}, format="json").status_code == 502
    assert not TokenUsage.objects.filter(user=user).exists()


def test_the_usage_row_names_the_article(api, user):
    article = ArticleFactory(user=user)

    api.post("/api/ai/generate-seo-title", {"text": ARTICLE_TEXT, "article_id": article.pk})

    assert TokenUsage.objects.get(user=user).article_id == article.pk


def test_the_usage_page_shows_the_result_with_a_copy_button(api, user, signed_in):
    api.post("/api/ai/generate-meta-description", {"text": ARTICLE_TEXT}, format="json")
    usage = TokenUsage.objects.get(user=user)

    html = signed_in.get("/usage/").content.decode()

    assert f'<div class="usage-result" id="usage-result-{usage.pk}">{usage.result}</div>' in html
    assert f'data-copy-target="#usage-result-{usage.pk}"' in html


def test_the_csv_has_the_result(api, user, signed_in):
    api.post("/api/ai/generate-seo-title", {"text": ARTICLE_TEXT}, format="json")
    Wallet(user).debit(100, action="rewrite")  # spending without a result (not an AI action)

    response = signed_in.get("/usage/export.csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))

    assert rows[0][-1] == "result"
    assert rows[1][-1] == ""
    assert rows[2][-1] == TokenUsage.objects.get(user=user, action="generate_seo_title").result


def test_a_result_that_would_be_a_spreadsheet_formula_is_quoted(user, signed_in):
    hold = Wallet(user).hold(300, action="generate_seo_title")
    Wallet(user).settle(hold, result='=HYPERLINK("http://evil")')

    response = signed_in.get("/usage/export.csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))

    assert rows[1][-1] == '\'=HYPERLINK("http://evil")'


def test_sql_written_for_the_old_table_still_inserts(user):
    """SPEC §4: old SQL names only the old columns; the new one has a database default."""
    from django.db import connection
    from django.utils import timezone

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO token_usage_history (user_id, tokens_used, action, created_at) "
            "VALUES (%s, %s, %s, %s)",
            [user.pk, 300, "generate_seo_title", timezone.now()],
        )

    assert TokenUsage.objects.get(user=user).result == ""
