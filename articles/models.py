from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone

from articles.providers.base import DESCRIPTION_MAX, TITLE_MAX
from subscriptions.models import FREE_PLAN, Plan, UserSubscription
from tokens.wallet import Wallet
from volx.db import retry_transaction


class ArticleLimitReached(Exception):
    """The plan's articles_limit for the current period is used up (HTTP 402)."""

    def __init__(self, limit: int, used: int):
        self.limit = limit
        self.used = used
        super().__init__(f"{used} of {limit} articles used in this plan period")


class ArticleManager(models.Manager):
    @retry_transaction
    def create_within_limit(self, user, **fields) -> "Article":
        """Create an article for `user` unless the plan period's limit is used up.

        The user's row is locked first (the wallet's lock, so the lock order is the same
        as everywhere else): two concurrent creations by one user then count one after
        the other, and a free user with one article left cannot end up with three.
        """
        Wallet(user).lock()
        used, limit = articles_this_period(user)
        if used >= limit:
            raise ArticleLimitReached(limit=limit, used=used)
        article = self.create(user=user, **fields)
        ArticleCreation.record(article)
        return article


class Article(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft"
        PUBLISHED = "published"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="articles"
    )
    title = models.CharField(max_length=255)
    content = models.TextField(blank=True, default="")
    # The lengths search results show, the ones the AI actions write to (60 and 160).
    seo_title = models.CharField(max_length=TITLE_MAX, blank=True, default="")
    meta_description = models.CharField(max_length=DESCRIPTION_MAX, blank=True, default="")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ArticleManager()

    class Meta:
        db_table = "articles"
        indexes = [models.Index(fields=["user", "created_at"], name="articles_user_created_idx")]

    def __str__(self) -> str:
        return self.title


class ArticleCreation(models.Model):
    """One row per article created, kept when the article is deleted.

    The plan's articles_limit counts these rows, not the articles that are left, so
    deleting an article does not give its place in the period back.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    article = models.ForeignKey(
        Article, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "article_creations"
        indexes = [models.Index(fields=["user", "created_at"], name="article_creations_user_idx")]

    def __str__(self) -> str:
        return f"article {self.article_id} by user {self.user_id} at {self.created_at}"

    @classmethod
    def record(cls, article: Article) -> "ArticleCreation":
        return cls.objects.create(
            user_id=article.user_id, article=article, created_at=article.created_at
        )


def articles_allowance(user) -> tuple[int, datetime]:
    """(articles_limit, start of the current plan period) for `user`, read fresh.

    A user without a subscription (a legacy row) gets the free plan's limit, counted
    from their registration.
    """
    subscription = UserSubscription.objects.filter(user=user).first()
    if subscription is None:
        return Plan.objects.get(slug=FREE_PLAN).articles_limit, user.created_at
    return subscription.articles_limit, subscription.period_start()


def articles_this_period(user) -> tuple[int, int]:
    """(articles created in the current plan period, the plan's articles_limit): the
    numbers the article limit compares (docs/rules.md, Article limit)."""
    limit, period_start = articles_allowance(user)
    used = ArticleCreation.objects.filter(user=user, created_at__gte=period_start).count()
    return used, limit
