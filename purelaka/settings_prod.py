"""Production settings: PostgreSQL, TLS, secure cookies, HSTS.

Every required variable must be set; a missing one stops start-up with one line
naming it and a non-zero exit (no traceback).
"""

import sys

from .settings import *  # noqa: F403
from .settings import env


def _required(name):
    value = env.str(name, default="")
    if not value.strip():
        sys.exit(
            f"settings_prod: environment variable {name} is required but not set "
            "(see .env.example)."
        )
    return value


SECRET_KEY = _required("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = [h.strip() for h in _required("DJANGO_ALLOWED_HOSTS").split(",")]
# The container's own HEALTHCHECK calls http://localhost:8000/monitoring/healthz/.
ALLOWED_HOSTS += ["localhost", "127.0.0.1"]
DATABASES = {"default": env.db_url_config(_required("DATABASE_URL"))}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEBUG = False

if PAYMENTS_USE_STRIPE:  # noqa: F405
    STRIPE_SECRET_KEY = _required("STRIPE_SECRET_KEY")
    STRIPE_PUBLISHABLE_KEY = _required("STRIPE_PUBLISHABLE_KEY")
    STRIPE_WEBHOOK_SECRET = _required("STRIPE_WEBHOOK_SECRET")

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
