"""/api/articles: own articles only, and the plan's article limit per period."""

import importlib
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import F
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory
from articles.models import Article, ArticleCreation
from articles.tests.factories import ArticleFactory
from payments.tests.factories import PaymentFactory
from subscriptions.models import Plan, UserSubscription

pytestmark = pytest.mark.django_db

LIST = "/api/articles"
# A plan that began before any of the periods a test looks at.
LONG_AGO = timezone.now() - timedelta(days=3_000)


def detail(article) -> str:
    return f"/api/articles/{article.pk}"


def create(client, title="A title", **fields):
    return client.post(LIST, {"title": title, **fields}, format="json")


class TestCrud:
    def test_create(self, api, user):
        response = create(api, "Brewing coffee", content="Grind fresh.")

        assert response.status_code == 201
        body = response.json()
        assert body["title"] == "Brewing coffee"
        assert body["content"] == "Grind fresh."
        assert body["status"] == "draft"
        assert {"id", "created_at", "updated_at"} <= body.keys()
        assert Article.objects.get(pk=body["id"]).user == user

    def test_create_needs_a_title(self, api):
        response = create(api, title="")

        assert response.status_code == 400
        assert response.json()["error"].startswith("title")

    def test_create_refuses_an_unknown_status(self, api):
        assert create(api, status="archived").status_code == 400

    def test_list_shows_only_own_articles_newest_first(self, api, user):
        older = ArticleFactory(user=user)
        newer = ArticleFactory(user=user)
        ArticleFactory(user=UserFactory())

        response = api.get(LIST)

        assert response.status_code == 200
        assert response.json()["count"] == 2
        assert [a["id"] for a in response.json()["results"]] == [newer.pk, older.pk]

    def test_get(self, api, user):
        article = ArticleFactory(user=user)

        response = api.get(detail(article))

        assert response.status_code == 200
        assert response.json()["title"] == article.title

    def test_patch(self, api, user):
        article = ArticleFactory(user=user, title="Old")

        response = api.patch(
            detail(article), {"title": "New", "status": "published"}, format="json"
        )

        assert response.status_code == 200
        article.refresh_from_db()
        assert (article.title, article.status) == ("New", "published")

    def test_patch_cannot_move_an_article_to_another_user(self, api, user):
        article = ArticleFactory(user=user)
        other = UserFactory()

        api.patch(detail(article), {"user": other.pk, "id": 999}, format="json")

        article.refresh_from_db()
        assert article.user == user

    def test_put_is_not_offered(self, api, user):
        article = ArticleFactory(user=user)

        assert api.put(detail(article), {"title": "x"}, format="json").status_code == 405

    def test_delete(self, api, user):
        article = ArticleFactory(user=user)

        assert api.delete(detail(article)).status_code == 204
        assert not Article.objects.filter(pk=article.pk).exists()


class TestOtherUsersArticles:
    @pytest.fixture
    def theirs(self):
        return ArticleFactory(user=UserFactory(), title="Theirs")

    def test_get_is_404(self, api, theirs):
        response = api.get(detail(theirs))

        assert response.status_code == 404
        assert response.json()["error"]

    def test_patch_is_404_and_changes_nothing(self, api, theirs):
        assert api.patch(detail(theirs), {"title": "Mine"}, format="json").status_code == 404
        theirs.refresh_from_db()
        assert theirs.title == "Theirs"

    def test_delete_is_404_and_deletes_nothing(self, api, theirs):
        assert api.delete(detail(theirs)).status_code == 404
        assert Article.objects.filter(pk=theirs.pk).exists()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", LIST),
        ("post", LIST),
        ("get", f"{LIST}/1"),
        ("patch", f"{LIST}/1"),
        ("delete", f"{LIST}/1"),
    ],
)
def test_unauthenticated_is_401(api_client, method, path):
    response = getattr(api_client, method)(path, {}, format="json")

    assert response.status_code == 401
    assert response.json()["error"]


class TestLimit:
    def test_the_free_plan_allows_two_articles(self, api, user):
        assert create(api).status_code == 201
        assert create(api).status_code == 201

        response = create(api)

        assert response.status_code == 402
        assert response.json() == {"error": "Article limit reached", "limit": 2, "used": 2}
        assert Article.objects.filter(user=user).count() == 2

    def test_deleting_an_article_does_not_give_its_place_back(self, api, user):
        """The limit counts articles created in the period, not the ones that are left."""
        first = create(api).json()
        assert create(api).status_code == 201
        assert api.delete(f"{LIST}/{first['id']}").status_code == 204

        response = create(api)

        assert response.status_code == 402
        assert response.json() == {"error": "Article limit reached", "limit": 2, "used": 2}
        assert Article.objects.filter(user=user).count() == 1

    def test_the_limit_comes_from_the_subscription(self, api, user):
        UserSubscription.objects.filter(user=user).update(articles_limit=3)
        for _ in range(3):
            assert create(api).status_code == 201

        assert create(api).json() == {"error": "Article limit reached", "limit": 3, "used": 3}

    def test_other_users_articles_do_not_count(self, api):
        ArticleFactory.create_batch(2, user=UserFactory())

        assert create(api).status_code == 201

    def test_a_monthly_period_starts_30_days_before_expiry(self, api, user):
        expires_at = timezone.now() + timedelta(days=10)  # the period began 20 days ago
        UserSubscription.objects.filter(user=user).update(
            articles_limit=2,
            expires_at=expires_at,
            billing_cycle="monthly",
            plan_started_at=LONG_AGO,
        )
        _created(ArticleFactory(user=user), days_ago=21)  # previous period
        _created(ArticleFactory(user=user), days_ago=19)  # this period

        assert create(api).status_code == 201
        assert create(api).json() == {"error": "Article limit reached", "limit": 2, "used": 2}

    def test_an_annual_period_starts_365_days_before_expiry(self, api, user):
        expires_at = timezone.now() + timedelta(days=300)  # the period began 65 days ago
        UserSubscription.objects.filter(user=user).update(
            articles_limit=2,
            expires_at=expires_at,
            billing_cycle="annual",
            plan_started_at=LONG_AGO,
        )
        _created(ArticleFactory(user=user), days_ago=66)
        _created(ArticleFactory(user=user), days_ago=64)

        assert create(api).status_code == 201
        assert create(api).status_code == 402

    def test_without_expiry_the_period_runs_since_the_plan_began(self, api, user):
        _created(ArticleFactory(user=user), days_ago=400)
        UserSubscription.objects.filter(user=user).update(
            created_at=LONG_AGO, plan_started_at=timezone.now() - timedelta(days=1)
        )

        assert create(api).status_code == 201
        assert create(api).status_code == 201
        assert create(api).json()["used"] == 2

    def test_after_a_paid_plan_expires_the_free_plan_counts_from_the_expiry(self, api, user):
        """Articles written on the paid plan belong to its period: the free plan that
        follows starts a period of its own with its 2 articles."""
        PaymentFactory(user=user).confirm()  # professional, 50 articles a month
        for _ in range(3):
            assert create(api).status_code == 201
        UserSubscription.objects.filter(user=user).update(
            expires_at=timezone.now() - timedelta(minutes=1)
        )
        assert UserSubscription.expire_due() == 1

        assert create(api).status_code == 201
        assert create(api).status_code == 201
        assert create(api).json() == {"error": "Article limit reached", "limit": 2, "used": 2}

    def test_an_early_renewal_does_not_start_the_next_period_early(self, api, user):
        """Buying the running plan again extends it by a cycle; the current period still
        ends where it did, and the next one begins there with a full allowance."""
        Plan.objects.filter(slug="professional").update(articles_limit=2)
        PaymentFactory(user=user).confirm()
        create(api)
        create(api)
        PaymentFactory(user=user).confirm()  # 30 more days, after the current 30

        assert create(api).json() == {"error": "Article limit reached", "limit": 2, "used": 2}
        _travel(user, days=31)  # into the second period
        assert create(api).status_code == 201

    def test_a_refused_article_costs_no_tokens(self, api, user, wallet_state):
        create(api)
        create(api)
        create(api)

        assert wallet_state(user)["balance"] == 10_000


def _travel(user, *, days: int):
    """As if `days` had passed: the plan's dates and the user's articles move back."""
    back = timedelta(days=days)
    UserSubscription.objects.filter(user=user).update(
        plan_started_at=F("plan_started_at") - back, expires_at=F("expires_at") - back
    )
    Article.objects.filter(user=user).update(created_at=F("created_at") - back)
    ArticleCreation.objects.filter(user=user).update(created_at=F("created_at") - back)


def _created(article, *, days_ago: int):
    created_at = timezone.now() - timedelta(days=days_ago)
    Article.objects.filter(pk=article.pk).update(created_at=created_at)
    ArticleCreation.objects.filter(article=article).update(created_at=created_at)


@pytest.mark.locks
@pytest.mark.django_db(transaction=True)
def test_concurrent_creations_never_exceed_the_limit(client_for):
    """Ten simultaneous POSTs by a free user (limit 2): without the row lock, several
    requests count 0 or 1 existing articles at the same time and all create one."""
    user = UserFactory()
    authorization = client_for(user)._credentials["HTTP_AUTHORIZATION"]
    start = threading.Barrier(10)

    def send(i):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=authorization)
        start.wait()
        try:
            return create(client, f"Article {i}").status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = Counter(pool.map(send, range(10)))

    assert statuses == {201: 2, 402: 8}
    assert Article.objects.filter(user=user).count() == 2


def test_the_migration_records_the_articles_that_exist():
    migration = importlib.import_module("articles.migrations.0002_article_creations").Migration
    user = UserFactory()
    articles = [Article.objects.create(user=user, title=f"Old {n}") for n in range(3)]
    ArticleCreation.objects.all().delete()

    with connection.cursor() as cursor:
        cursor.execute(migration.operations[-1].sql)

    recorded = ArticleCreation.objects.values_list("article_id", "user_id", "created_at")
    assert sorted(recorded) == [(a.pk, user.pk, a.created_at) for a in articles]
