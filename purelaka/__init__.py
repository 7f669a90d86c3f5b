from .celery import app as celery_app

# The one place the application's version is written (docs/upgrade_policy.md).
__version__ = "1.0.0"

__all__ = ["__version__", "celery_app"]
