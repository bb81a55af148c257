import hashlib
import secrets
import zoneinfo

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.utils import translation

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


def supported_language(code: str | None) -> str:
    """The LANGUAGES entry for `code` ("vi-VN" → "vi"), else the site's default."""
    try:
        return translation.get_supported_language_variant(code or "")
    except LookupError:
        return settings.LANGUAGE_CODE


def time_zone_choices() -> list[tuple[str, str]]:
    return [(name, name.replace("_", " ")) for name in sorted(zoneinfo.available_timezones())]


def token_digest(token: str) -> str:
    """What `verification_token` stores: a SHA-256 of the e-mailed token, so that whoever
    reads the table cannot verify an address with it."""
    return hashlib.sha256(token.encode()).hexdigest()


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
    # The old schema's column, now the SHA-256 of the last e-mailed verification link's
    # token (token_digest); NULL when no link is outstanding.
    verification_token = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001 (old schema)
    # The columns below have database defaults too: SQL written against the old schema
    # (an INSERT that names only its columns) must keep working (SPEC §4).
    # An e-mail change waits here until the link sent to the new address is opened.
    pending_email = models.EmailField(max_length=255, blank=True, default="", db_default="")
    # The user's e-mails and pages are in this language, their pages in this time zone.
    language = models.CharField(
        max_length=8,
        choices=settings.LANGUAGES,
        default=settings.LANGUAGE_CODE,
        db_default=settings.LANGUAGE_CODE,
    )
    time_zone = models.CharField(max_length=64, default="UTC", db_default="UTC")
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
        indexes = [
            models.Index(fields=["role"], name="users_role_idx"),  # the admin's filter
            # A verification link finds its user by this, among a million users.
            models.Index(fields=["verification_token"], name="users_verification_token_idx"),
        ]

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

    # --- the e-mail address ----------------------------------------------------

    def new_verification_token(self, *, email: str | None = None) -> str:
        """A new link token for this user's address, or for `email`, a new address that
        takes effect once the link is opened. Replaces any earlier link. Returns the token
        for the e-mail; only its digest is stored."""
        token = secrets.token_urlsafe(32)
        self.verification_token = token_digest(token)
        self.pending_email = type(self).objects.normalize_email(email) if email else ""
        self.save(update_fields=["verification_token", "pending_email", "updated_at"])
        return token

    @classmethod
    def verify_email(cls, token: str) -> "User | None":
        """Open a verification link: the address is verified (a pending new address becomes
        the user's), and the link is used up. None for an unknown or used token, or when
        the pending address was taken by another account meanwhile."""
        if not token or len(token) > 128:
            return None
        try:
            return cls._verify_email(token)
        except IntegrityError:  # the pending address was registered a moment ago
            return None

    @classmethod
    def _verify_email(cls, token: str) -> "User | None":
        with transaction.atomic():
            user = (
                cls.objects.select_for_update()
                .filter(verification_token=token_digest(token), is_active=True)
                .first()
            )
            if user is None:
                return None
            fields = ["is_verified", "verification_token", "pending_email", "updated_at"]
            if user.pending_email:
                if cls.objects.filter(email=user.pending_email).exclude(pk=user.pk).exists():
                    return None
                user.email = user.pending_email
                fields.append("email")
            user.is_verified, user.verification_token, user.pending_email = True, None, ""
            user.save(update_fields=fields)
        return user

    # --- leaving ----------------------------------------------------------------

    @retry_transaction
    def erase(self) -> None:
        """Delete the account as its owner sees it: the personal data is replaced, the user
        deactivated (sessions and every JWT stop working: the password changes), the
        articles deleted. Payments, the ledger and the usage history stay, under this
        now anonymous user, so the books and the token sync report still add up."""
        from axes.models import AccessAttempt

        from articles.models import Article  # an app above this one, as in adjust_tokens
        from tokens.models import IdempotencyRecord

        with transaction.atomic():
            old_username = self.username
            self.email = f"deleted-{self.pk}@deleted.invalid"
            self.username = f"deleted-{self.pk}"
            self.full_name = self.bio = self.avatar_url = self.pending_email = ""
            self.verification_token = None
            self.is_active = self.is_verified = False
            self.set_unusable_password()
            self.save()
            Article.objects.filter(user=self).delete()
            # Replays of AI answers: the user's texts, not money (holds and usage stay).
            IdempotencyRecord.objects.filter(user=self).delete()
            AccessAttempt.objects.filter(username=old_username).delete()

    def has_perm(self, perm: str, obj=None) -> bool:
        return self.is_admin

    def has_perms(self, perm_list, obj=None) -> bool:
        return self.is_admin

    def has_module_perms(self, app_label: str) -> bool:
        return self.is_admin
