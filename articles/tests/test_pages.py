"""The AI tools page, and the API contract its script relies on (session + CSRF)."""

import re

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.test import Client

from articles.actions import ACTIONS
from tokens.models import TokenUsage
from tokens.wallet import Wallet

pytestmark = pytest.mark.django_db

TEXT = "Search engines reward pages that answer the question a reader actually asked."


def test_anonymous_users_are_sent_to_login(client):
    response = client.get("/tools/")

    assert (response.status_code, response.url) == (302, "/login/?next=/tools/")


def test_tools_page_offers_the_four_actions_with_their_costs(signed_in):
    html = signed_in.get("/tools/").content.decode()

    assert '<textarea id="tools-text" name="text" maxlength="20000"' in html
    for action in ACTIONS.values():
        assert f'id="action-{action.slug}"' in html
        assert f'data-url="/api/ai/{action.slug}"' in html
    assert "SEO title" in html and "⚡ 300" in html
    assert "Meta description" in html and "⚡ 400" in html
    assert "Find image" in html and "⚡ 100" in html
    assert "⚡ 500 + 1 per 10 characters, at most 2,000" in html
    assert 'data-chars-per-token="10" data-max-cost="2000"' in html
    assert "csrfmiddlewaretoken" in html
    assert re.search(r'<script src="/static/js/tools\.js[^"]*" defer>', html)


def test_tools_script_and_styles_are_served_by_the_app(signed_in):
    html = signed_in.get("/tools/").content.decode()

    assert finders.find("js/tools.js") and finders.find("css/volx.css")
    assert 'src="http' not in html and 'href="http' not in html
    assert "<script>" not in html  # no inline scripts


def test_insufficient_tokens_dialog_markup(signed_in):
    html = signed_in.get("/tools/").content.decode()

    dialog = html[html.index('<dialog id="insufficient-tokens"') : html.index("</dialog>")]
    assert "Not enough tokens" in dialog
    for label in ("Current tokens", "Required tokens", "Missing", "Current plan"):
        assert label in dialog
    for element in ("current", "required", "missing", "plan"):
        assert f'id="insufficient-{element}"' in dialog
    assert "Free · 10,000 tokens" in dialog
    assert 'href="/plans/"' in dialog
    assert 'data-upgrade-url="/plans/PLAN/upgrade/"' in dialog
    assert '<script id="plan-names" type="application/json">' in html


def test_insufficient_tokens_dialog_in_vietnamese(signed_in):
    signed_in.cookies[settings.LANGUAGE_COOKIE_NAME] = "vi"

    html = signed_in.get("/tools/").content.decode()

    dialog = html[html.index('<dialog id="insufficient-tokens"') : html.index("</dialog>")]
    assert "Không đủ Token" in dialog
    for label in ("Token hiện tại", "Token cần thiết", "Thiếu", "Gói hiện tại"):
        assert label in dialog
    assert "Miễn phí · 10.000 token" in dialog
    assert "⚡ 10.000 Token" in html


# --- what static/js/tools.js does: POST /api/ai/<action> with the session -------------


def csrf_client_for(user) -> tuple[Client, str]:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    html = client.get("/tools/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    return client, token


def test_the_tools_script_call_charges_and_the_badge_follows(user):
    client, token = csrf_client_for(user)

    answer = client.post(
        "/api/ai/generate-seo-title",
        {"text": TEXT},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
        HTTP_IDEMPOTENCY_KEY="click-1",
    )

    assert answer.status_code == 200
    assert answer.json()["tokens_remaining"] == 9_700
    assert "⚡ 9,700 Token" in client.get("/dashboard/").content.decode()


def test_the_same_click_sent_twice_is_charged_once(user):
    client, token = csrf_client_for(user)

    for _ in range(2):
        answer = client.post(
            "/api/ai/find-image",
            {"text": TEXT},
            content_type="application/json",
            HTTP_X_CSRFTOKEN=token,
            HTTP_IDEMPOTENCY_KEY="click-2",
        )
        assert answer.status_code == 200

    assert Wallet(user).balance() == 9_900
    assert TokenUsage.objects.filter(user=user).count() == 1


def test_a_session_call_without_the_csrf_token_is_refused_and_costs_nothing(user):
    client, _ = csrf_client_for(user)

    answer = client.post(
        "/api/ai/generate-seo-title", {"text": TEXT}, content_type="application/json"
    )

    assert answer.status_code == 403
    assert Wallet(user).balance() == 10_000


def test_the_402_answer_has_what_the_dialog_shows(user):
    Wallet(user).debit(9_900)
    client, token = csrf_client_for(user)

    answer = client.post(
        "/api/ai/generate-meta-description",
        {"text": TEXT},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )

    assert answer.status_code == 402
    body = answer.json()
    assert (body["remaining"], body["required"], body["missing"]) == (100, 400, 300)
    assert (body["plan_type"], body["tokens_limit"]) == ("free", 10_000)
    assert body["suggested_plan"]["slug"] == "starter"
