"""Volx settings, read from the environment (and an optional `.env` file).

Every variable is listed with its default in `.env.example`.
"""

from datetime import timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="volx-insecure-development-key-change-me")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "corsheaders",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "accounts",
    "tokens",
    "subscriptions",
    "payments",
    "articles",
    "volx",  # the throttles' counters
]

MIDDLEWARE = [
    # First: under /api/ it answers every error as JSON, those of the middleware below too.
    "volx.middleware.APIErrors",
    "django.middleware.security.SecurityMiddleware",
    "volx.middleware.StaticFilesMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # A signed-in user's pages in their account's language and time zone.
    "accounts.middleware.AccountPreferencesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: turns a login refused by the lockout into the "locked" page (accounts/locked.html).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "volx.urls"
WSGI_APPLICATION = "volx.wsgi.application"  # runserver and the test client; production is ASGI

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tokens.context_processors.token_wallet",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
# SQLite is the embedded default for a first run; production is MySQL/MariaDB.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.mysql":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "charset": "utf8mb4",
            # Django's recommended level for MySQL: each statement sees committed data,
            # which is what "lock the row, then read it" relies on.
            "isolation_level": "read committed",
        }
    )
    DATABASES["default"]["TEST"] = {
        "CHARSET": "utf8mb4",
        "COLLATION": "utf8mb4_unicode_ci",
        # Separate test runs sharing one server (CI, a developer) need separate databases.
        "NAME": env.str("TEST_DATABASE_NAME", default=None),
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite has no row locks: IMMEDIATE makes every transaction take the write lock
    # up front, so concurrent debits queue instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20}
    )
# Persistent connections: a request reuses its worker's connection instead of opening a
# new one (TCP, authentication, session set-up: about a millisecond each time). Checked
# with a ping before a request reuses it, so one the server dropped is replaced, not failed.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# How many times a transaction that hit a deadlock (or a Galera certification failure),
# a lock-wait timeout or a Galera node not ready yet runs in all (volx/db.py
# retry_transaction); after that the answer is 503 with Retry-After.
DB_RETRY_ATTEMPTS = env.int("DB_RETRY_ATTEMPTS", default=3)
# On a Galera cluster: what a session's statements wait for, before they run, until the
# node has applied every write the cluster committed before them (MariaDB's
# wsrep_sync_wait bitmask: 1 reads, 2 UPDATE and DELETE, 4 INSERT). 1: a balance read
# on another node, after a failover, shows the user's last change (volx/db.py
# wait_for_cluster_writes). Ignored on a server that is not a Galera node.
DB_WSREP_SYNC_WAIT = env.int("DB_WSREP_SYNC_WAIT", default=1)

# --- Serving (volx/asgi.py) -----------------------------------------------------
# Database connections of one ASGI worker process: the async views' database work runs
# on DB_THREADS threads, each with one persistent connection, and at most SYNC_VIEWS sync
# views run at once, each with a connection of its own. A worker holds at most their
# sum; the service WEB_CONCURRENCY × (DB_THREADS + SYNC_VIEWS).
DB_THREADS = env.int("DB_THREADS", default=8)
SYNC_VIEWS = env.int("SYNC_VIEWS", default=16)

# --- Auth ---------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    # First: refuses any login, even with the right password, while the account is locked.
    "axes.backends.AxesStandaloneBackend",
    "accounts.backends.EmailOrUsernameBackend",
]
# Argon2 for new and changed passwords; the others still verify older hashes, which are
# upgraded to Argon2 at the user's next login.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# A password reset link works once, for this long (Django's PasswordResetTokenGenerator).
PASSWORD_RESET_TIMEOUT = 60 * env.int("PASSWORD_RESET_TIMEOUT_MINUTES", default=60)
# true: AI actions answer 403 until the user has verified their e-mail address.
AI_REQUIRES_VERIFIED_EMAIL = env.bool("AI_REQUIRES_VERIFIED_EMAIL", default=False)
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/dashboard/"
LOGOUT_REDIRECT_URL = "/login/"

# Login lockout (django-axes), stored in the database so every process and host sees it:
# after LOGIN_LOCKOUT_FAILURES wrong passwords an account refuses every login, the right
# password too, for LOGIN_LOCKOUT_COOLOFF_MINUTES; after LOGIN_LOCKOUT_ADDRESS_FAILURES
# wrong passwords from one client address, for any accounts, that address is refused every
# login for as long. Per account whatever the client, per address whatever the account
# (accounts/lockout.py says why); an admin unlocks in Axes › Access attempts or with
# `manage.py axes_reset_username <username>` / `axes_reset_ip <address>`.
AXES_FAILURE_LIMIT = env.int("LOGIN_LOCKOUT_FAILURES", default=30)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_COOLOFF_MINUTES", default=30))
LOGIN_LOCKOUT_ADDRESS_FAILURES = env.int("LOGIN_LOCKOUT_ADDRESS_FAILURES", default=50)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # either one locks
AXES_HANDLER = "accounts.lockout.LoginLockoutHandler"  # the address's own limit
AXES_CLIENT_IP_CALLABLE = "accounts.lockout.client_address"  # by NUM_PROXIES, as throttles
AXES_USERNAME_CALLABLE = "accounts.lockout.lockout_key"
AXES_RESET_ON_SUCCESS = True  # a successful login forgets the account's earlier failures
# The cool-off runs from the lockout; attempts while locked do not extend it, or an
# attacker could keep the owner out for good.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_TEMPLATE = "accounts/locked.html"
AXES_HTTP_RESPONSE_CODE = 429
# Only failures are needed for the lockout; a row per successful login would grow forever.
AXES_DISABLE_ACCESS_LOG = True
AXES_ENABLE_ADMIN = False  # accounts/admin.py shows the attempts, the project's way

# --- HTTPS --------------------------------------------------------------------
# HTTPS=true: the site is served over TLS only (`manage.py check --deploy` is clean).
# Without it, DEBUG=False still serves plain HTTP (tests, loopback behind a TLS proxy).
HTTPS = env.bool("HTTPS", default=False)
SECURE_SSL_REDIRECT = SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
# One year, subdomains included, preload-ready: browsers refuse plain HTTP for the domain.
SECURE_HSTS_SECONDS = 365 * 24 * 3600 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_PRELOAD = HTTPS
# Reverse proxies in front of the app (0: clients connect directly). Each must set
# X-Forwarded-Proto and X-Forwarded-For itself, replacing what the client sent: they are
# trusted for "was this HTTPS?" and for the client address the throttles count by.
NUM_PROXIES = env.int("NUM_PROXIES", default=0)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if NUM_PROXIES else None

# --- API ----------------------------------------------------------------------
# Request bodies: none comes near 1 MiB (an AI action's text is at most 20,000
# characters, a provider's event a few kB); a larger one is refused before it is read
# (413 under /api/, Django's 400 on pages).
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

REST_FRAMEWORK = {
    # JWT first: its WWW-Authenticate header is what turns "not logged in" into 401.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": env.int("API_PAGE_SIZE", default=20),
    "EXCEPTION_HANDLER": "volx.api.exception_handler",
    # DRF's three, bounded in depth and strict about the encoding (volx/api.py).
    "DEFAULT_PARSER_CLASSES": [
        "volx.api.JSONParser",
        "volx.api.FormParser",
        "volx.api.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Only views with a `throttle_scope` are throttled; over the rate → 429 with Retry-After.
    "DEFAULT_THROTTLE_CLASSES": ["volx.throttling.ScopedRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "register": env.str("THROTTLE_REGISTER", default="20/hour"),  # per client address
        "ai": env.str("THROTTLE_AI", default="120/minute"),  # per user
        # reset e-mails and new passwords, per client address
        "password_reset": env.str("THROTTLE_PASSWORD_RESET", default="10/hour"),
        "verify_email": env.str("THROTTLE_VERIFY_EMAIL", default="5/hour"),  # per user
    },
    "NUM_PROXIES": NUM_PROXIES,
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=60)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "UPDATE_LAST_LOGIN": False,
    # Every token carries a digest of the user's password hash and is refused once the
    # hash changes: a password reset or change, or an account deletion, ends every JWT
    # issued before it (the refresh view checks it too: accounts/api.py). The same fact
    # ends the user's other sessions (Django's session auth hash). Stateless, unlike the
    # blacklist app, which would keep a row per login and cover refresh tokens only.
    "CHECK_REVOKE_TOKEN": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Volx API",
    "DESCRIPTION": "Accounts, plans, the token wallet, AI actions and payments.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI assets served by the app itself (no CDN).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {"PaymentMethodEnum": "payments.models.Payment.Method"},
}
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])

# --- Tokens and plans ---------------------------------------------------------
# "add": a paid plan adds its tokens to the wallet; "reset": the wallet becomes the
# plan's tokens and the forfeited balance is written to the ledger (docs/rules.md, Paid
# plan change).
TOKENS_ON_PLAN_CHANGE = env.str("TOKENS_ON_PLAN_CHANGE", default="add")
# "keep": an expired paid plan keeps its wallet; "forfeit": the wallet is taken
# (docs/rules.md, Expiry).
EXPIRED_TOKENS_POLICY = env.str("EXPIRED_TOKENS_POLICY", default="keep")
# How long an auto-renewing subscription waits for its renewal payment before expiring.
AUTO_RENEW_GRACE_HOURS = env.int("AUTO_RENEW_GRACE_HOURS", default=72)

# --- Payments (README, Payments) --------------------------------------------------
# Where the app is reached by users' browsers: return URLs for Stripe and PayPal.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")
BANK_TRANSFER_BANK_NAME = env.str("BANK_TRANSFER_BANK_NAME", default="")
BANK_TRANSFER_ACCOUNT_NAME = env.str("BANK_TRANSFER_ACCOUNT_NAME", default="")
BANK_TRANSFER_ACCOUNT_NUMBER = env.str("BANK_TRANSFER_ACCOUNT_NUMBER", default="")
BANK_TRANSFER_SWIFT = env.str("BANK_TRANSFER_SWIFT", default="")
BANK_TRANSFER_INSTRUCTIONS = env.str(
    "BANK_TRANSFER_INSTRUCTIONS",
    default="Put the reference code in the transfer memo; an admin approves the payment "
    "when the money arrives.",
)
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_WEBHOOK_TOLERANCE = env.int("STRIPE_WEBHOOK_TOLERANCE", default=300)  # seconds
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="")  # tests: a local fake Stripe
PAYPAL_MODE = env.str("PAYPAL_MODE", default="sandbox")  # sandbox | live
PAYPAL_CLIENT_ID = env.str("PAYPAL_CLIENT_ID", default="")
PAYPAL_CLIENT_SECRET = env.str("PAYPAL_CLIENT_SECRET", default="")
PAYPAL_WEBHOOK_ID = env.str("PAYPAL_WEBHOOK_ID", default="")
PAYPAL_API_BASE = env.str("PAYPAL_API_BASE", default="")  # tests: a local fake PayPal
# The seller on every receipt (/payments/<id>/receipt/).
RECEIPT_SELLER_NAME = env.str("RECEIPT_SELLER_NAME", default="Volx")
RECEIPT_SELLER_ADDRESS = env.str("RECEIPT_SELLER_ADDRESS", default="")
RECEIPT_SELLER_TAX_ID = env.str("RECEIPT_SELLER_TAX_ID", default="")

# --- AI actions (docs/rules.md, Charging for AI actions) --------------------------
# "local": the offline extractive engine (no network, deterministic); "openai": any
# OpenAI-compatible chat-completions server.
AI_PROVIDER = env.str("AI_PROVIDER", default="local")
AI_BASE_URL = env.str("AI_BASE_URL", default="https://api.openai.com/v1")
AI_API_KEY = env.str("AI_API_KEY", default="")
AI_MODEL = env.str("AI_MODEL", default="gpt-4o-mini")
AI_TIMEOUT = env.float("AI_TIMEOUT", default=30.0)

# --- I18n, static -------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("vi", "Tiếng Việt")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
# Unambiguous dates in both languages, times with their zone (volx/formats/).
FORMAT_MODULE_PATH = ["volx.formats"]
USE_I18N = True
USE_TZ = True

# --- E-mail -------------------------------------------------------------------
# Console by default; SMTP with e.g. EMAIL_URL=smtp+tls://user:password@smtp.example.com:587
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)  # django-environ's idiom: EMAIL_BACKEND, EMAIL_HOST, …
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Volx <no-reply@volx.local>")

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
    # paypalrestsdk logs request headers, Authorization included, at DEBUG.
    "loggers": {"paypalrestsdk": {"level": "INFO"}},
}
