"""Base settings: development and demo.

Runs with no `.env` at all: SQLite in `db.sqlite3`, offline payments and a dev-only
secret key. `settings_postgres` and `settings_prod` build on this module; every
variable read here is listed, explained, in `.env.example`.
"""

from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")

DEV_SECRET_KEY = "dev-only-insecure-key-never-use-in-production-0123456789abcdef"  # noqa: S105 (refused by settings_prod)
SECRET_KEY = env("DJANGO_SECRET_KEY", default=DEV_SECRET_KEY)
DEBUG = env.bool("DJANGO_DEBUG", default=True)
# seed_demo (public demo passwords) runs only where DEBUG is configured on, unless
# given --allow-production; the test runner's own DEBUG=False does not count.
DEMO_COMMANDS_ALLOWED = DEBUG
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "accounts.admin_site.PureLakaAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "axes",
    "csp",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_celery_beat",
    "core",
    "audit",
    "accounts",
    "catalog",
    "orders",
    "payments",
    "subscriptions",
    "wishlist",
    "analyticsapp",
    "monitoring",
    "demo",
]

MIDDLEWARE = [
    "core.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): the second factor (accounts/two_factor.py).
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "accounts.two_factor.TwoFactorMiddleware",
    "accounts.middleware.AccessPolicyMiddleware",
    "core.errors.DomainErrorMiddleware",
    # Last, as django-axes asks: it turns a lockout into its response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "purelaka.urls"
WSGI_APPLICATION = "purelaka.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "core.context_processors.store",
                "purelaka.context_processors.app_version",
                "accounts.context_processors.navigation",
                "orders.context_processors.cart_count",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # WAL lets the dev server read while it writes; IMMEDIATE takes the write lock
    # at BEGIN, so concurrent writers wait instead of failing with "locked".
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
# A read replica (docs/deployment.md), optional: analytics dashboards, drill-downs
# and exports read from it inside their explicit scope (core/replica.py, the router
# purelaka/db_router.py); every other read, every write, anything inside a write
# transaction and every migration stays on the primary. A replica more than
# REPLICA_MAX_LAG_SECONDS behind (pg_last_xact_replay_timestamp) is skipped.
DATABASE_REPLICA_URL = env("DATABASE_REPLICA_URL", default="")
REPLICA_MAX_LAG_SECONDS = env.float("REPLICA_MAX_LAG_SECONDS", default=300.0)
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = env.db_url_config(DATABASE_REPLICA_URL)
    # Tests read the primary's test database through it (no second test database;
    # core/replica.py then reads the primary itself).
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["purelaka.db_router.AnalyticsReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    # First, as django-axes asks: refuses a locked-out login before any other.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "accounts.backends.RolePermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation."
        "UserAttributeSimilarityValidator"
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "catalog:home"
LOGOUT_REDIRECT_URL = "catalog:home"

# The access policy: every named URL and who may use it (accounts.access).
ACCESS_POLICY = "purelaka.access_policy.POLICY"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Money and time conventions (ARCHITECTURE.md).
STORE_CURRENCY = env("STORE_CURRENCY", default="GBP")
REPORTING_TIMEZONE = env("REPORTING_TIMEZONE", default="Europe/London")
# Carriers ops can ship with: key -> (name, tracking URL with {reference}). A carrier
# not listed here ships without a link (orders/shipping.py).
CARRIERS = {
    "royal-mail": (
        "Royal Mail",
        "https://www.royalmail.com/track-your-item#/tracking-results/{reference}",
    ),
    "dpd": ("DPD", "https://track.dpd.co.uk/parcels/{reference}"),
    "evri": ("Evri", "https://www.evri.com/track/parcel/{reference}"),
    "ups": ("UPS", "https://www.ups.com/track?tracknum={reference}"),
}
# A paid order is late once this many business days (Monday to Friday in
# REPORTING_TIMEZONE) have passed since payment without fulfilment
# (orders/service_level.py).
FULFILMENT_SERVICE_LEVEL_DAYS = env.int("FULFILMENT_SERVICE_LEVEL_DAYS", default=2)

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Catalogue and checkout.
STOCK_RESERVATION_MINUTES = env.int("STOCK_RESERVATION_MINUTES", default=30)
SHIPPING_FLAT_PENNIES = env.int("SHIPPING_FLAT_PENNIES", default=395)
FREE_SHIPPING_THRESHOLD_PENNIES = env.int(
    "FREE_SHIPPING_THRESHOLD_PENNIES", default=5000
)

# Payments (the payments app reads these).
PAYMENTS_USE_STRIPE = env.bool("PAYMENTS_USE_STRIPE", default=False)
STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY", default="")
STRIPE_PUBLISHABLE_KEY = env("STRIPE_PUBLISHABLE_KEY", default="")
STRIPE_WEBHOOK_SECRET = env(
    "STRIPE_WEBHOOK_SECRET", default="whsec_test_purelaka_offline_secret"
)
STRIPE_API_VERSION = env("STRIPE_API_VERSION", default="2025-03-31.basil")
# Where the real gateway sends API requests: Stripe, or a Stripe-compatible server
# (localstripe) for tests that exercise the SDK end to end without the internet.
STRIPE_API_BASE = env("STRIPE_API_BASE", default="https://api.stripe.com")
# How the webhook applies an event (docs/decisions.md): "inline" in the request (a
# failure answers 500 and Stripe retries), or "queue": stored, answered 200 at once,
# applied by a Celery worker (failures retried by the reprocess job). Production
# defaults to "queue"; the demo and the tests, which run no worker, to "inline".
STRIPE_WEBHOOK_PROCESSING = env("STRIPE_WEBHOOK_PROCESSING", default="inline")
# Money to the bank (docs/decisions.md, "Balance transactions and payouts"): the
# pricing the merchant expects (UK cards: 1.5 % + 20p), how far the effective fee
# rate of a day may drift from it before monitoring says so, and how long a payment
# may wait for its balance transaction before it is an issue.
STRIPE_EXPECTED_FEE_BPS = env.int("STRIPE_EXPECTED_FEE_BPS", default=150)
STRIPE_EXPECTED_FEE_FIXED_PENNIES = env.int(
    "STRIPE_EXPECTED_FEE_FIXED_PENNIES", default=20
)
STRIPE_FEE_TOLERANCE_BPS = env.int("STRIPE_FEE_TOLERANCE_BPS", default=200)
SETTLEMENT_GRACE_HOURS = env.int("SETTLEMENT_GRACE_HOURS", default=24)

# Login throttling (django-axes): five failures lock the email from that address.
# Reverse proxies we run in front of the app (each appends to X-Forwarded-For):
# the client's address is the one they saw (core.request_context.client_ip).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
AXES_CLIENT_IP_CALLABLE = "core.request_context.client_ip"
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
# Beside the per-account lockout (accounts/throttle.py): failed sign-ins from one
# address across any names in 15 minutes, and sign-in attempts site-wide a minute.
SIGNIN_FAILURES_PER_ADDRESS = env.int("SIGNIN_FAILURES_PER_ADDRESS", default=30)
SIGNIN_ATTEMPTS_PER_MINUTE = env.int("SIGNIN_ATTEMPTS_PER_MINUTE", default=600)
# Password reset links last an hour; at most this many reset emails an hour to one
# address and from one client (accounts/throttle.py). Sign-ups from one client an
# hour. An address confirmation link lasts this many days.
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_SECONDS", default=60 * 60)
PASSWORD_RESETS_PER_EMAIL = env.int("PASSWORD_RESETS_PER_EMAIL", default=3)
PASSWORD_RESETS_PER_ADDRESS = env.int("PASSWORD_RESETS_PER_ADDRESS", default=20)
SIGNUPS_PER_ADDRESS = env.int("SIGNUPS_PER_ADDRESS", default=20)
EMAIL_VERIFICATION_DAYS = env.int("EMAIL_VERIFICATION_DAYS", default=3)
# Two-factor sign-in (accounts/two_factor.py): roles that must use it (admin always
# should; add ops and analyst where the merchant wants), and how long a staff
# session lasts (customers keep SESSION_COOKIE_AGE, two weeks).
TWO_FACTOR_REQUIRED_ROLES = env.list("TWO_FACTOR_REQUIRED_ROLES", default=["admin"])
OTP_TOTP_ISSUER = "PureLaka"
STAFF_SESSION_SECONDS = env.int("STAFF_SESSION_SECONDS", default=12 * 60 * 60)
# Days a staff invitation's set-password link lasts (accounts/staff.py).
STAFF_INVITE_DAYS = env.int("STAFF_INVITE_DAYS", default=7)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=1.0)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# Staff names are never locked: each try past the limit waits twice as long as the
# last, up to STAFF_DELAY_MAX_SECONDS (accounts/throttle.py).
AXES_WHITELIST_CALLABLE = "accounts.throttle.axes_never_locks_staff"
STAFF_DELAY_MAX_SECONDS = env.int("STAFF_DELAY_MAX_SECONDS", default=60)
# The login form posts the email as `username` (Django's AuthenticationForm).
AXES_USERNAME_FORM_FIELD = "username"
AXES_RESET_ON_SUCCESS = True
# A lockout ends after its cool-off whatever is tried meanwhile (axes' default
# restarts it on every attempt, so anyone could keep an account locked for ever).
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"

# Content-Security-Policy (django-csp): no inline script, no third-party origin.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# Celery: Redis as broker; the schedule lives in the database (django-celery-beat).
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/0")
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=None)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TIMEZONE = REPORTING_TIMEZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Acknowledge a task when it ends, so one lost with its worker is delivered again:
# every scheduled job is idempotent and runs under its job lock (core/locks.py).
CELERY_TASK_ACKS_LATE = True
# One message at a time per worker process: a long rebuild holds no others back.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A stuck job is stopped: soft limit raises inside it, hard limit kills the process
# (which ends its DB session and so frees its job lock). Both stay below Redis's
# visibility timeout (1 hour), past which an unacknowledged task is redelivered.
CELERY_TASK_SOFT_TIME_LIMIT = 25 * 60
CELERY_TASK_TIME_LIMIT = 30 * 60
# With Redis down a publish fails at once instead of holding up its caller (the
# webhook's queue mode stores the event first and the sweep applies it; see
# payments/services/inbox.py): one connection attempt, since kombu reconnects only
# under a publish's own retry policy (beat's publishes keep Celery's), and a short
# connect timeout for a host that does not answer at all. A command on a connection
# whose broker vanished without closing it gives up too, past BRPOP's 1 s wait.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "max_retries": 0,
    "socket_connect_timeout": 1,
    "socket_timeout": 5,
}
# The demo's broker needs no server (scripts/demo.sh): kombu's filesystem transport,
# CELERY_BROKER_URL=filesystem:// with its messages in CELERY_BROKER_FOLDER (the
# folders must exist). Production leaves both unset and keeps Redis.
CELERY_BROKER_FOLDER = env("CELERY_BROKER_FOLDER", default="")
if CELERY_BROKER_URL.startswith("filesystem://"):
    if not CELERY_BROKER_FOLDER:
        raise ImproperlyConfigured(
            "CELERY_BROKER_URL=filesystem:// needs CELERY_BROKER_FOLDER"
        )
    _broker_queue = str(Path(CELERY_BROKER_FOLDER) / "queue")
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": _broker_queue,
        "data_folder_out": _broker_queue,
        "processed_folder": str(Path(CELERY_BROKER_FOLDER) / "processed"),
        # kombu's broadcast exchanges (remote control), else "control/" in the cwd.
        "control_folder": str(Path(CELERY_BROKER_FOLDER) / "control"),
        "store_processed": False,
    }

# Three queues, so work of one kind never waits behind another's (docs/deployment.md):
# live: webhook events to apply now; scheduled: beat's periodic jobs; bulk: long
# work (history backfills, full rebuilds). Each has its own worker in the compose
# files; the demo's one worker takes all three. Every task is named here
# (core/tests/test_queues.py fails for one that is not), the default only catches
# a task sent by a name Celery does not know.
TASK_QUEUE_NAMES = ("live", "scheduled", "bulk")
CELERY_TASK_DEFAULT_QUEUE = "scheduled"
CELERY_TASK_ROUTES = {
    "payments.process_stripe_event": {"queue": "live"},
    # Transactional email (order confirmations, dispatch notices): short, awaited.
    "core.send_message": {"queue": "live"},
    "catalog.expire_reservations": {"queue": "scheduled"},
    "monitoring.run_checks": {"queue": "scheduled"},
    "monitoring.staff_digest": {"queue": "scheduled"},
    "analyticsapp.nightly_snapshots": {"queue": "scheduled"},
    "analyticsapp.stripe_catch_up": {"queue": "scheduled"},
    "payments.reprocess_stripe_events": {"queue": "scheduled"},
    "payments.settlement_sync": {"queue": "scheduled"},
    "analyticsapp.import_stripe_history": {"queue": "bulk"},
    # Celery's own (backend_cleanup from beat, canvas helpers).
    "celery.*": {"queue": "scheduled"},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "core.logging.RequestIdFilter"}},
    "formatters": {
        "plain": {
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
        }
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id"],
            "formatter": "plain",
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
    },
}

# Email (core.mail, docs/runbook.md "Mail"). EMAIL_URL picks the backend: smtp://
# (smtp+tls://user:pass@host:587 in production), consolemail:// (the default here:
# messages printed), filemail:///path (the demo's .demo/mail), memorymail://.
# Provider APIs (Postmark, SES, Mailgun) go through django-anymail: see the runbook.
_email = env.email_url("EMAIL_URL", default="consolemail://")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email["EMAIL_HOST"] or "localhost"
EMAIL_PORT = _email["EMAIL_PORT"] or 25
EMAIL_HOST_USER = _email["EMAIL_HOST_USER"] or ""
EMAIL_HOST_PASSWORD = _email["EMAIL_HOST_PASSWORD"] or ""
EMAIL_USE_TLS = bool(_email.get("EMAIL_USE_TLS"))
EMAIL_USE_SSL = bool(_email.get("EMAIL_USE_SSL"))
# filemail:///.demo/mail is relative to the project; filemail:////var/mail absolute.
EMAIL_FILE_PATH = str(BASE_DIR / _email["EMAIL_FILE_PATH"])
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="PureLaka <shop@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Absolute links in messages (order pages, the subscriptions page) start here.
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
# Kinds of message not to send, comma-separated (core.mail.KINDS names them); "*":
# none at all (the demo seeds its history so: no mail to its made-up customers).
MESSAGES_DISABLED = env.list("MESSAGES_DISABLED", default=[])
# How a recorded message is sent after commit: "queue" publishes the Celery task
# (a worker sends and retries it), "inline" runs that task in the committing process.
# Wherever a broker is configured (production, the demo) the worker sends; without
# one (the tests, a bare runserver) mail goes inline.
MESSAGES_DELIVERY = env(
    "MESSAGES_DELIVERY",
    default="queue" if env.str("CELERY_BROKER_URL", default="") else "inline",
)
if MESSAGES_DELIVERY not in ("queue", "inline"):
    raise ImproperlyConfigured("MESSAGES_DELIVERY must be queue or inline")
# Tries per message (the first and its retries, 1, 2, 4, ... minutes apart) before
# it is failed and monitoring's messages_failed check raises it.
MESSAGES_MAX_ATTEMPTS = env.int("MESSAGES_MAX_ATTEMPTS", default=5)
