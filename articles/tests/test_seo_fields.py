"""Articles' SEO title (≤ 60) and meta description (≤ 160): read, create, PATCH, admin."""

import pytest

from accounts.tests.factories import AdminFactory
from articles.models import Article
from articles.tests.factories import ArticleFactory

pytestmark = pytest.mark.django_db


def test_create_and_read_with_seo_fields(api, user):
    response = api.post(
        "/api/articles",
        {"title": "Brewing", "seo_title": "Brew better coffee", "meta_description": "How to."},
        format="json",
    )

    assert response.status_code == 201
    body = api.get(f"/api/articles/{response.json()['id']}").json()
    assert (body["seo_title"], body["meta_description"]) == ("Brew better coffee", "How to.")


def test_the_fields_are_optional_and_empty_by_default(api):
    body = api.post("/api/articles", {"title": "Brewing"}, format="json").json()

    assert (body["seo_title"], body["meta_description"]) == ("", "")


def test_patch_changes_only_the_seo_fields_sent(api, user):
    article = ArticleFactory(user=user, title="Kept")

    response = api.patch(
        f"/api/articles/{article.pk}", {"seo_title": "A" * 60, "meta_description": "B" * 160}
    )

    assert response.status_code == 200
    article.refresh_from_db()
    assert (article.title, article.seo_title, article.meta_description) == (
        "Kept",
        "A" * 60,
        "B" * 160,
    )


@pytest.mark.parametrize(("field", "limit"), [("seo_title", 60), ("meta_description", 160)])
def test_longer_than_search_results_show_is_400(api, user, field, limit):
    article = ArticleFactory(user=user)

    response = api.patch(f"/api/articles/{article.pk}", {field: "x" * (limit + 1)})

    assert response.status_code == 400
    assert field in response.json()
    assert getattr(Article.objects.get(pk=article.pk), field) == ""


def test_another_users_article_cannot_be_patched(api):
    other = ArticleFactory(seo_title="Theirs")

    response = api.patch(f"/api/articles/{other.pk}", {"seo_title": "Mine now"})

    assert response.status_code == 404
    assert Article.objects.get(pk=other.pk).seo_title == "Theirs"


def test_the_admin_edits_the_seo_fields(client):
    client.force_login(AdminFactory())
    article = ArticleFactory(seo_title="Shown in the admin")

    html = client.get(f"/admin/articles/article/{article.pk}/change/").content.decode()

    assert 'name="seo_title"' in html and 'name="meta_description"' in html
    assert "Shown in the admin" in html
