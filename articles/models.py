from datetime import datetime

from django.conf import settings
from django.db import models

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
        limit, period_start = articles_allowance(user)
        used = self.filter(user=user, created_at__gte=period_start).count()
        if used >= limit:
            raise ArticleLimitReached(limit=limit, used=used)
        return self.create(user=user, **fields)


class Article(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft"
        PUBLISHED = "published"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="articles"
    )
    title = models.CharField(max_length=255)
    content = models.TextField(blank=True, default="")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ArticleManager()

    class Meta:
        db_table = "articles"
        indexes = [models.Index(fields=["user", "created_at"], name="articles_user_created_idx")]

    def __str__(self) -> str:
        return self.title


def articles_allowance(user) -> tuple[int, datetime]:
    """(articles_limit, start of the current plan period) for `user`, read fresh.

    A user without a subscription (a legacy row) gets the free plan's limit, counted
    from their registration.
    """
    subscription = UserSubscription.objects.filter(user=user).first()
    if subscription is None:
        return Plan.objects.get(slug=FREE_PLAN).articles_limit, user.created_at
    return subscription.articles_limit, subscription.period_start()
