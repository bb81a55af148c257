"""The old system's SQL deletes rows directly; the old schema's foreign keys say what that
does to the rows that point at them: a user's subscription and usage history go with the
user, a usage row outlives its article with article_id NULL. Django creates its foreign
keys without ON DELETE (RESTRICT), so a migration sets these on MySQL/MariaDB."""

import pytest
from django.db import connection

from accounts.tests.factories import UserFactory
from articles.models import Article
from subscriptions.models import UserSubscription
from tokens.models import TokenUsage

pytestmark = [pytest.mark.locks, pytest.mark.django_db]


def sql(statement: str, *params) -> int:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.rowcount


def test_deleting_an_article_by_sql_keeps_its_usage_rows_without_it():
    user = UserFactory()
    article = Article.objects.create(user=user, title="Draft")
    usage = TokenUsage.objects.create(user=user, article=article, tokens_used=300, action="seo")

    assert sql("DELETE FROM articles WHERE id = %s", article.pk) == 1

    usage.refresh_from_db()
    assert usage.article_id is None
    assert usage.tokens_used == 300


def test_deleting_a_user_by_sql_removes_its_subscription_and_usage_rows():
    user, other = UserFactory(), UserFactory()
    TokenUsage.objects.create(user=user, tokens_used=300, action="seo")
    TokenUsage.objects.create(user=other, tokens_used=100, action="image")
    # The rows of Volx's own tables (the ledger's registration grant) are not the old
    # schema's; the old SQL never had them to block it.
    sql("DELETE FROM token_ledger WHERE user_id = %s", user.pk)

    assert sql("DELETE FROM users WHERE id = %s", user.pk) == 1

    assert not UserSubscription.objects.filter(user_id=user.pk).exists()
    assert not TokenUsage.objects.filter(user_id=user.pk).exists()
    assert UserSubscription.objects.filter(user=other).exists()
    assert TokenUsage.objects.filter(user=other).count() == 1


def test_the_constraints_say_so_in_information_schema():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT TABLE_NAME, REFERENCED_TABLE_NAME, DELETE_RULE"
            " FROM information_schema.REFERENTIAL_CONSTRAINTS"
            " WHERE CONSTRAINT_SCHEMA = DATABASE()"
            " AND TABLE_NAME IN ('user_subscriptions', 'token_usage_history')"
        )
        rules = set(cursor.fetchall())
    assert rules == {
        ("user_subscriptions", "users", "CASCADE"),
        ("token_usage_history", "users", "CASCADE"),
        ("token_usage_history", "articles", "SET NULL"),
    }
