"""The Celery app: Redis broker (the demo's is files: scripts/demo.sh); the schedule
lives in the database (django-celery-beat)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "purelaka.settings")

app = Celery("purelaka")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
