"""Production settings: PostgreSQL, TLS, secure cookies, HSTS.

Every required variable must be set; a missing one stops start-up with one line
naming it and a non-zero exit (no traceback).
"""

import sys

from .settings import *  # noqa: F403
from .settings import BASE_DIR, DATABASE_REPLICA_URL, DEV_SECRET_KEY, env

SECRET_KEY_MIN_LENGTH, SECRET_KEY_MIN_DISTINCT = 50, 5  # as check --deploy asks


def _required(name):
    value = env.str(name, default="")
    if not value.strip():
        sys.exit(
            f"settings_prod: environment variable {name} is required but not set "
            "(see .env.example)."
        )
    return value


def _placeholders(name: str) -> set[str]:
    """The values .env.example gives `name` (a copy-paste is no secret)."""
    example = BASE_DIR / ".env.example"
    if not example.exists():
        return set()
    prefix = f"{name}="
    return {
        line.removeprefix(prefix).strip()
        for line in example.read_text().splitlines()
        if line.startswith(prefix)
    }


def _secret_key() -> str:
    """DJANGO_SECRET_KEY, refused (one line naming it) when it is a published
    value, short, of little variety or Django's insecure kind."""
    key = _required("DJANGO_SECRET_KEY")
    if key in _placeholders("DJANGO_SECRET_KEY") | {DEV_SECRET_KEY}:
        problem = "is a published placeholder (.env.example or the development one)"
    elif len(key) < SECRET_KEY_MIN_LENGTH:
        problem = f"has {len(key)} characters; it needs {SECRET_KEY_MIN_LENGTH}"
    elif len(set(key)) < SECRET_KEY_MIN_DISTINCT:
        problem = f"has fewer than {SECRET_KEY_MIN_DISTINCT} different characters"
    elif key.startswith("django-insecure-"):
        problem = "is one Django generated as insecure"
    else:
        return key
    sys.exit(
        f"settings_prod: DJANGO_SECRET_KEY {problem}; make one with "
        '`python -c "import secrets; print(secrets.token_urlsafe(50))"`.'
    )


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = [h.strip() for h in _required("DJANGO_ALLOWED_HOSTS").split(",")]
# The container's own HEALTHCHECK calls http://localhost:8000/monitoring/healthz/.
ALLOWED_HOSTS += ["localhost", "127.0.0.1"]
DATABASES = {"default": env.db_url_config(_required("DATABASE_URL"))}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# The optional read replica for analytics (docs/deployment.md, purelaka/db_router.py).
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = {
        **env.db_url_config(DATABASE_REPLICA_URL),
        "CONN_MAX_AGE": DATABASES["default"]["CONN_MAX_AGE"],
        "CONN_HEALTH_CHECKS": True,
    }
DEBUG = False
DEMO_COMMANDS_ALLOWED = False

# Offline payments in production would let anyone "pay" from the offline page.
PAYMENTS_USE_STRIPE = env.bool("PAYMENTS_USE_STRIPE", default=True)
if not PAYMENTS_USE_STRIPE and not env.bool("PAYMENTS_ALLOW_OFFLINE", default=False):
    sys.exit(
        "settings_prod: PAYMENTS_USE_STRIPE=0 would take no real payments; set "
        "PAYMENTS_USE_STRIPE=1 (or PAYMENTS_ALLOW_OFFLINE=1 for a demo deployment)."
    )
if PAYMENTS_USE_STRIPE:
    STRIPE_SECRET_KEY = _required("STRIPE_SECRET_KEY")
    STRIPE_PUBLISHABLE_KEY = _required("STRIPE_PUBLISHABLE_KEY")
# The webhook secret is the webhook's only credential: never the public dev default.
STRIPE_WEBHOOK_SECRET = _required("STRIPE_WEBHOOK_SECRET")
if "whsec_test_purelaka_offline_secret" in STRIPE_WEBHOOK_SECRET:
    sys.exit(
        "settings_prod: STRIPE_WEBHOOK_SECRET is the public development secret; "
        "set the endpoint's own signing secret (whsec_...)."
    )

STRIPE_WEBHOOK_PROCESSING = env("STRIPE_WEBHOOK_PROCESSING", default="queue")
if STRIPE_WEBHOOK_PROCESSING not in ("queue", "inline"):
    sys.exit(
        f"settings_prod: STRIPE_WEBHOOK_PROCESSING={STRIPE_WEBHOOK_PROCESSING!r}; "
        "use queue (a Celery worker applies events) or inline."
    )

STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# TLS terminates at the proxy in front of gunicorn, which sets X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^monitoring/healthz/$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
CSRF_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
CELERY_TASK_ALWAYS_EAGER = False
# One cache for every web and worker process (the window KPIs the nightly job warms
# must reach the web workers): Redis, database 1 by default (the broker uses 0).
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env("CACHE_URL", default="redis://127.0.0.1:6379/1"),
    }
}

# Logs: one JSON object per line on standard error, each with its request id, and
# secret keys, Authorization headers and card-like numbers redacted (core.logging).
LOGGING = {
    **LOGGING,  # noqa: F405
    "filters": {
        "request_id": {"()": "core.logging.RequestIdFilter"},
        "redact": {"()": "core.logging.RedactSecretsFilter"},
    },
    "formatters": {"json": {"()": "core.logging.JsonFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id", "redact"],
            "formatter": "json",
        }
    },
}
# Celery's worker and beat keep this configuration instead of installing their own
# plain-text handlers on the root logger.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
