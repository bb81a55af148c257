from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.db import models, transaction
from django.db.models import Q

from accounts.signals import user_registered
from volx.db import retry_transaction


class UserManager(BaseUserManager):
    @classmethod
    def normalize_email(cls, email: str | None) -> str:
        # E-mail addresses are unique regardless of case.
        return (email or "").strip().lower()

    def create_user(self, username: str, email: str, password: str | None = None, **extra):
        """Register a user: the user, the free subscription and the free tokens, or nothing."""
        with transaction.atomic(using=self.db):
            user = self.model(username=username, email=self.normalize_email(email), **extra)
            user.set_password(password)
            user.save(using=self.db)
            user_registered.send(sender=self.model, user=user)
        return user

    def create_superuser(self, username: str, email: str, password: str | None = None, **extra):
        extra["role"] = User.Role.ADMIN
        return self.create_user(username, email, password, **extra)

    def get_by_login(self, login: str) -> "User":
        """The user whose e-mail or username is `login` (e-mail case-insensitive)."""
        login = (login or "").strip()
        if "@" in login:
            return self.get(email=self.normalize_email(login))
        return self.get(username=login)


class User(AbstractBaseUser):
    class Role(models.TextChoices):
        USER = "user", "User"
        ADMIN = "admin", "Admin"

    email = models.EmailField(max_length=255, unique=True)
    username = models.CharField(
        max_length=150,
        unique=True,
        validators=[UnicodeUsernameValidator()],
        help_text="Letters, digits and @/./+/-/_ only.",
    )
    full_name = models.CharField(max_length=255, blank=True, default="")
    avatar_url = models.URLField(max_length=500, blank=True, default="")
    bio = models.TextField(blank=True, default="")
    is_active = models.BooleanField(default=True)
    is_verified = models.BooleanField(default=False)
    role = models.CharField(max_length=5, choices=Role.choices, default=Role.USER)
    # The wallet's cached balance. Changed only by tokens.wallet.Wallet, together with a
    # ledger entry. NULL exists only in legacy or hand-edited rows (docs/rules.md, NULL is not 0).
    tokens_remaining = models.IntegerField(null=True, blank=True, default=0)
    verification_token = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001 (old schema)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = UserManager()

    USERNAME_FIELD = "username"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["email"]

    class Meta:
        db_table = "users"
        constraints = [
            models.CheckConstraint(
                condition=Q(tokens_remaining__gte=0), name="users_tokens_remaining_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(role__in=["user", "admin"]), name="users_role_valid"
            ),
        ]
        indexes = [models.Index(fields=["role"], name="users_role_idx")]  # the admin's filter

    def __str__(self) -> str:
        return self.username

    @property
    def is_admin(self) -> bool:
        return self.is_active and self.role == self.Role.ADMIN

    # The admin site asks for these; role 'admin' is the single source of admin rights.
    @property
    def is_staff(self) -> bool:
        return self.is_admin

    @property
    def is_superuser(self) -> bool:
        return self.is_admin

    @retry_transaction
    def adjust_tokens(self, tokens: int, *, reason: str, by: "User", key: str | None = None):
        """An admin's change of this user's balance, in the ledger with `by` and `reason`.

        A bonus (tokens > 0) adds to the balance and leaves the plan allowance alone, so
        the balance may exceed it. A take-back (tokens < 0) takes up to that many, never
        below 0; what could not be taken is written in the entry's note. `key` names this
        adjustment (the admin form's id, an API client's Idempotency-Key): with the same
        key it happens once, and a repeat returns None. Returns the ledger entry.
        """
        from tokens import references  # the wallet imports this module
        from tokens.models import LedgerEntry
        from tokens.wallet import Wallet

        if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens == 0:
            raise ValueError(f"tokens must be a non-zero whole number, got {tokens!r}")
        if not reason.strip():
            raise ValueError("an adjustment needs a reason")
        wallet = Wallet(self)
        if tokens > 0:
            ledger_key = references.admin_bonus(key) if key else None
        else:
            ledger_key = references.admin_take_back(key) if key else None
        wallet.lock()  # before looking for the key: two adjustments with it cannot both miss it
        if ledger_key and wallet.has_entry(ledger_key):
            return None
        if tokens > 0:
            return wallet.credit(
                tokens,
                kind=LedgerEntry.Kind.BONUS,
                reference=references.bonus_by(by.username),
                idempotency_key=ledger_key,
                actor=by,
                note=reason,
            )
        return wallet.debit_up_to(
            -tokens,
            kind=LedgerEntry.Kind.TAKEN_BACK,
            reference=references.taken_back_by(by.username),
            idempotency_key=ledger_key,
            actor=by,
            note=reason,
        )

    def has_perm(self, perm: str, obj=None) -> bool:
        return self.is_admin

    def has_perms(self, perm_list, obj=None) -> bool:
        return self.is_admin

    def has_module_perms(self, app_label: str) -> bool:
        return self.is_admin
