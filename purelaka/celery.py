"""The Celery app: Redis broker (the demo's is files: scripts/demo.sh); the schedule
lives in the database (django-celery-beat). Tasks go to three queues, live,
scheduled and bulk, by name (CELERY_TASK_ROUTES in settings.py), each served by
its own worker in the compose files (docs/deployment.md)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "purelaka.settings")

app = Celery("purelaka")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
