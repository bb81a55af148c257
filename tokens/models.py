from django.conf import settings
from django.db import models


class LedgerEntry(models.Model):
    """One movement of a user's tokens. Rows are appended, never edited.

    For every user, SUM(delta) equals users.tokens_remaining (SPEC I1) and each row's
    balance_after is the previous row's balance_after plus its delta.
    """

    class Kind(models.TextChoices):
        GRANT = "grant", "Plan grant"
        BONUS = "bonus", "Admin bonus"
        DEBIT = "debit", "Debit"
        HOLD = "hold", "Hold for an AI action"
        RELEASE = "release", "Hold released"
        REFUND = "refund", "Refund reversal"
        FORFEIT = "forfeit", "Forfeited"
        OPENING_BALANCE = "opening_balance", "Opening balance"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ledger_entries"
    )
    delta = models.IntegerField()
    balance_after = models.IntegerField()
    kind = models.CharField(max_length=20, choices=Kind.choices)
    reference = models.CharField(max_length=100, blank=True, default="")
    # NULL, not "": many entries have no key, and UNIQUE ignores NULLs.
    idempotency_key = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Who caused the movement when it was not the user (an admin, for a bonus).",
    )
    note = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        db_table = "token_ledger"
        verbose_name_plural = "ledger entries"
        constraints = [
            models.UniqueConstraint(
                fields=["user", "idempotency_key"], name="token_ledger_unique_idempotency_key"
            ),
            models.CheckConstraint(
                condition=models.Q(balance_after__gte=0), name="token_ledger_balance_not_negative"
            ),
        ]
        indexes = [models.Index(fields=["user", "id"], name="token_ledger_user_id_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.delta:+d} → {self.balance_after}"


class TokenHold(models.Model):
    """Tokens set aside for an AI action until it succeeds (settle) or fails (release)."""

    class Status(models.TextChoices):
        HELD = "held"
        SETTLED = "settled"
        RELEASED = "released"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    amount = models.IntegerField()
    action = models.CharField(max_length=50)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.HELD)
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "token_holds"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gt=0), name="token_holds_amount_positive"
            )
        ]

    def __str__(self) -> str:
        return f"hold {self.amount} for {self.action} ({self.status})"


class TokenUsage(models.Model):
    """What a user spent tokens on (the old system's table, columns kept)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="token_usage"
    )
    article = models.ForeignKey(
        "articles.Article", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    tokens_used = models.IntegerField()
    action = models.CharField(max_length=50)
    # What the AI provider itself reported, when it reports anything.
    provider_tokens = models.IntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "token_usage_history"
        verbose_name_plural = "token usage"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(tokens_used__gte=0), name="token_usage_tokens_used_not_negative"
            )
        ]
        indexes = [
            models.Index(fields=["user", "created_at"], name="tuh_user_created_idx"),
            models.Index(fields=["created_at"], name="tuh_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.tokens_used}"
