"""The article pages: the list with the period's count, a new article within the plan's
limit, and the editor with its fields and AI buttons; another user's article is 404."""

import re

import pytest

from accounts.tests.factories import UserFactory
from articles.actions import ACTIONS
from articles.models import Article
from articles.tests.factories import ArticleFactory
from tokens.wallet import Wallet

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("url", ["/articles/", "/articles/new/", "/articles/1/"])
def test_anonymous_users_are_sent_to_login(client, url):
    response = client.get(url)

    assert (response.status_code, response.url) == (302, f"/login/?next={url}")


def test_the_list_shows_own_articles_newest_first_and_the_period_count(signed_in, user):
    ArticleFactory(user=user, title="Older")
    ArticleFactory(user=user, title="Newer")
    ArticleFactory(title="Somebody else's")

    html = signed_in.get("/articles/").content.decode()

    assert html.index("Newer") < html.index("Older")
    assert "Somebody else" not in html
    assert "2 of 2 articles this period" in html
    assert 'id="new-article"' not in html  # the free plan's two are used
    assert 'href="/plans/"' in html


def test_the_list_offers_a_new_article_while_the_limit_allows(signed_in, user):
    html = signed_in.get("/articles/").content.decode()

    assert "0 of 2 articles this period" in html
    assert 'id="new-article" href="/articles/new/"' in html


def test_a_new_article_is_created_and_opened_in_the_editor(signed_in, user):
    response = signed_in.post("/articles/new/", {"title": "Coffee", "content": "Brew it."})

    article = Article.objects.get(user=user)
    assert (article.title, article.content) == ("Coffee", "Brew it.")
    assert response.status_code == 302 and response.url == f"/articles/{article.pk}/"


def test_past_the_limit_a_new_article_is_refused_with_the_numbers(signed_in, user):
    ArticleFactory.create_batch(2, user=user)

    response = signed_in.post("/articles/new/", {"title": "Third"})

    assert response.status_code == 402
    assert "2 of 2 articles this period" in response.content.decode()
    assert Article.objects.filter(user=user).count() == 2


def test_a_deleted_article_keeps_its_place_in_the_period(signed_in, user):
    for article in ArticleFactory.create_batch(2, user=user):
        article.delete()

    assert signed_in.post("/articles/new/", {"title": "Third"}).status_code == 402


def test_the_editor_has_the_fields_and_the_four_actions_with_their_costs(signed_in, user):
    article = ArticleFactory(user=user, seo_title="Brew at home", meta_description="How.")

    html = signed_in.get(f"/articles/{article.pk}/").content.decode()

    for element in ("article-title", "article-content", "seo-title", "meta-description"):
        assert f'id="{element}"' in html
    assert 'id="save-article"' in html
    assert 'value="Brew at home"' in html
    assert f'data-article-id="{article.pk}"' in html
    for action in ACTIONS.values():
        assert f'data-action="{action.slug}"' in html
        assert f'data-url="/api/ai/{action.slug}"' in html
    assert "⚡ 300" in html and "⚡ 400" in html and "⚡ 100" in html
    assert "⚡ 500 + 1 per 10 characters, at most 2,000" in html
    assert re.search(r'<script src="/static/js/ai\.js[^"]*" defer>', html)
    assert re.search(r'<script src="/static/js/editor\.js[^"]*" defer>', html)
    assert 'id="insufficient-tokens"' in html


def test_saving_the_editor_persists_every_field(signed_in, user):
    article = ArticleFactory(user=user)

    response = signed_in.post(
        f"/articles/{article.pk}/",
        {
            "title": "New title",
            "content": "New content.",
            "seo_title": "New SEO title",
            "meta_description": "New description.",
        },
    )

    assert response.status_code == 302
    article.refresh_from_db()
    assert (article.title, article.content, article.seo_title, article.meta_description) == (
        "New title",
        "New content.",
        "New SEO title",
        "New description.",
    )


def test_an_seo_title_over_60_characters_is_not_saved(signed_in, user):
    article = ArticleFactory(user=user)

    response = signed_in.post(
        f"/articles/{article.pk}/", {"title": "T", "content": "", "seo_title": "x" * 61}
    )

    assert response.status_code == 400
    assert Article.objects.get(pk=article.pk).seo_title == ""


@pytest.mark.parametrize("method", ["get", "post"])
def test_another_users_article_is_404(signed_in, method):
    other = ArticleFactory(user=UserFactory(), title="Theirs")

    response = getattr(signed_in, method)(f"/articles/{other.pk}/", {"title": "Mine now"})

    assert response.status_code == 404
    assert Article.objects.get(pk=other.pk).title == "Theirs"


def test_an_action_the_balance_does_not_cover_is_shown_disabled(signed_in, user):
    Wallet(user).debit(9_750)  # 250 left: find-image (100) only
    article = ArticleFactory(user=user)

    html = signed_in.get(f"/articles/{article.pk}/").content.decode()

    def button(slug):
        return re.search(rf'<button[^>]*data-action="{slug}"[^>]*>', html, re.S).group(0)

    assert 'aria-disabled="true"' in button("generate-seo-title")
    assert 'aria-disabled="true"' in button("rewrite")
    assert "aria-disabled" not in button("find-image")


def test_the_demo_engine_says_so(signed_in, user, settings):
    article = ArticleFactory(user=user)
    settings.AI_PROVIDER = "local"
    assert 'id="demo-engine"' in signed_in.get(f"/articles/{article.pk}/").content.decode()
    assert 'id="demo-engine"' in signed_in.get("/tools/").content.decode()

    settings.AI_PROVIDER = "openai"
    assert 'id="demo-engine"' not in signed_in.get("/tools/").content.decode()


@pytest.mark.parametrize(
    "body", [b"title=\xed\xa0\x80&content=x", b"title=%FF%FE&content=x"], ids=["raw", "escaped"]
)
def test_a_form_that_is_not_utf8_saves_nothing(signed_in, user, body):
    article = ArticleFactory(user=user, title="Kept")
    form = "application/x-www-form-urlencoded"

    new = signed_in.generic("POST", "/articles/new/", body, content_type=form)
    edit = signed_in.generic("POST", f"/articles/{article.pk}/", body, content_type=form)

    assert (new.status_code, edit.status_code) == (400, 400)
    assert list(Article.objects.filter(user=user).values_list("title", flat=True)) == ["Kept"]
