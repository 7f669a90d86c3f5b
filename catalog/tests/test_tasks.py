import datetime as dt

import pytest
from django.utils import timezone

from audit.models import AuditLog
from catalog.models import StockReservation
from catalog.services.stock import stock_reserve
from catalog.tasks import expire_reservations_task
from catalog.tests.factories import VariantFactory
from core.tests.locks import job_lock_held_elsewhere

pytestmark = pytest.mark.django_db


def _lapsed_reservation():
    variant = VariantFactory(stock=1)
    stock_reserve(
        holder="order:1",
        quantities={variant.pk: 1},
        now=timezone.now() - dt.timedelta(hours=1),
    )


def test_expire_reservations_task_releases_lapsed_holds_and_audits_ran():
    _lapsed_reservation()

    assert expire_reservations_task.apply().get() == 1

    assert StockReservation.objects.get(holder="order:1").status == "expired"
    job = AuditLog.objects.get(event_type="job.expire_reservations")
    assert job.actor_label == "celery:expire_reservations"
    assert job.metadata == {"outcome": "ran", "expired": 1}


def test_expire_reservations_task_skips_while_another_run_holds_the_lock():
    _lapsed_reservation()

    with job_lock_held_elsewhere("expire_reservations"):
        assert expire_reservations_task.apply().get() is None

    assert StockReservation.objects.get(holder="order:1").status == "active"
    job = AuditLog.objects.get(event_type="job.expire_reservations")
    assert job.metadata == {"outcome": "skipped"}
