"""The development settings on PostgreSQL (`DATABASE_URL`)."""

from .settings import *  # noqa: F403
from .settings import env

DATABASES = {
    "default": env.db(
        "DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/purelaka"
    )
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=0)
