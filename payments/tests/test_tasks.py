import datetime as dt

import pytest
from django.db import DatabaseError
from django.utils import timezone

from audit.models import AuditLog
from catalog.tests.factories import VariantFactory
from core.tests.locks import job_lock_held_elsewhere
from orders.tests.factories import place_order
from payments.models import StripeEvent
from payments.services.reprocess import events_due_for_retry, retry_backoff
from payments.tasks import reprocess_stripe_events_task
from payments.tests.events import intent_succeeded, post

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)


def _event(event_id, *, status="failed", attempts, failed_ago):
    return StripeEvent.objects.create(
        event_id=event_id,
        type="payment_intent.succeeded",
        stripe_created=NOW - dt.timedelta(days=1),
        payload={},
        status=status,
        attempts=attempts,
        processed_at=NOW - failed_ago,
    )


def _due_ids():
    return set(events_due_for_retry(now=NOW).values_list("event_id", flat=True))


def test_backoff_doubles_from_two_minutes_and_stops_at_six_hours():
    assert [retry_backoff(attempts=n) for n in (1, 3, 8, 9, 50)] == [
        dt.timedelta(minutes=2),
        dt.timedelta(minutes=8),
        dt.timedelta(minutes=256),
        dt.timedelta(hours=6),
        dt.timedelta(hours=6),
    ]


def test_a_failed_event_is_retried_only_once_its_backoff_has_elapsed():
    _event("evt_recent", attempts=3, failed_ago=dt.timedelta(minutes=1))
    _event("evt_rested", attempts=3, failed_ago=dt.timedelta(minutes=9))
    _event("evt_exactly", attempts=1, failed_ago=dt.timedelta(minutes=2))
    _event("evt_capped_wait", attempts=9, failed_ago=dt.timedelta(hours=5, minutes=59))
    _event("evt_capped_due", attempts=9, failed_ago=dt.timedelta(hours=6))

    assert _due_ids() == {"evt_rested", "evt_exactly", "evt_capped_due"}


def test_an_event_that_failed_ten_times_is_left_for_a_person():
    _event("evt_tenth", attempts=10, failed_ago=dt.timedelta(days=30))
    _event("evt_more", attempts=12, failed_ago=dt.timedelta(days=30))

    assert _due_ids() == set()


def test_failed_pending_and_lost_queued_events_are_retried_on_schedule():
    for status in ("pending", "processed", "received", "ignored"):
        _event(f"evt_{status}", status=status, attempts=1, failed_ago=dt.timedelta(1))
    StripeEvent.objects.filter(event_id="evt_received").update(
        received_at=NOW - dt.timedelta(minutes=15)
    )
    _event("evt_just_queued", status="received", attempts=0, failed_ago=dt.timedelta(0))
    StripeEvent.objects.filter(event_id="evt_just_queued").update(
        received_at=NOW - dt.timedelta(minutes=14)
    )
    _event(
        "evt_pending_resting",
        status="pending",
        attempts=3,
        failed_ago=dt.timedelta(minutes=1),
    )

    # Queued 15 minutes ago and still not applied: its task was lost. Pending ones
    # wait out the same backoff as failed ones.
    assert _due_ids() == {"evt_received", "evt_pending"}


@pytest.fixture
def failed_payment_event(client, customer, monkeypatch):
    """A real payment event that failed once (the database broke mid-handler)."""
    order = place_order(customer=customer, variants={VariantFactory(stock=5): 1})

    def broken(**kwargs):
        raise DatabaseError("injected: connection lost")

    monkeypatch.setattr("payments.services.ledger.payments.order_mark_paid", broken)
    assert post(client, intent_succeeded(order)).status_code == 500
    monkeypatch.undo()
    return order, StripeEvent.objects.get()


def test_reprocess_task_applies_a_failed_event_once_rested_and_audits_ran(
    failed_payment_event,
):
    order, event = failed_payment_event
    StripeEvent.objects.filter(pk=event.pk).update(
        processed_at=timezone.now() - dt.timedelta(minutes=3)
    )

    assert reprocess_stripe_events_task.apply().get() == {"processed": 1}

    event.refresh_from_db()
    order.refresh_from_db()
    assert (event.status, event.attempts, order.status) == ("processed", 2, "paid")
    replay = AuditLog.objects.get(event_type="stripe_events.reprocessed")
    assert replay.metadata["event_id"] == event.event_id
    job = AuditLog.objects.get(event_type="job.reprocess_stripe_events")
    assert job.actor_label == "celery:reprocess_stripe_events"
    assert job.metadata == {
        "outcome": "ran",
        "statuses": {"processed": 1},
        "refund_requests": {"recorded": 0, "refused": 0, "later": 0},
    }


def test_reprocess_task_leaves_an_event_still_in_its_backoff(failed_payment_event):
    _order, event = failed_payment_event  # failed a moment ago: 2 minutes to wait

    assert reprocess_stripe_events_task.apply().get() == {}

    event.refresh_from_db()
    assert (event.status, event.attempts) == ("failed", 1)
    job = AuditLog.objects.get(event_type="job.reprocess_stripe_events")
    assert job.metadata == {
        "outcome": "ran",
        "statuses": {},
        "refund_requests": {"recorded": 0, "refused": 0, "later": 0},
    }


def test_reprocess_task_skips_while_another_run_holds_the_lock(failed_payment_event):
    _order, event = failed_payment_event
    StripeEvent.objects.filter(pk=event.pk).update(
        processed_at=timezone.now() - dt.timedelta(hours=1)
    )

    with job_lock_held_elsewhere("reprocess_stripe_events"):
        assert reprocess_stripe_events_task.apply().get() is None

    event.refresh_from_db()
    assert (event.status, event.attempts) == ("failed", 1)
    job = AuditLog.objects.get(event_type="job.reprocess_stripe_events")
    assert job.metadata == {"outcome": "skipped"}


def test_reprocess_task_resends_refund_requests_stripe_never_answered(
    monkeypatch, client, customer, ops_user
):
    import stripe

    from catalog.tests.factories import VariantFactory
    from core.exceptions import DomainError
    from orders.tests.factories import place_order
    from payments.gateway import OfflineGateway
    from payments.models import Refund, RefundRequest
    from payments.services.refunds import refund_issue
    from payments.tests.events import intent_succeeded, post

    order = place_order(customer=customer, variants={VariantFactory(stock=5): 1})
    post(client, intent_succeeded(order))

    class Unreachable(OfflineGateway):
        def create_refund(self, **kwargs):
            raise stripe.APIConnectionError("down")

    monkeypatch.setattr("payments.services.refunds.get_gateway", Unreachable)
    with pytest.raises(DomainError):
        refund_issue(
            order=order,
            amount_pennies=300,
            reason="",
            restock={},
            actor=ops_user,
            idempotency_key="k-task",
        )
    RefundRequest.objects.update(updated_at=timezone.now() - dt.timedelta(minutes=6))
    monkeypatch.setattr("payments.services.refunds.get_gateway", OfflineGateway)
    reprocess_stripe_events_task()
    assert Refund.objects.get().idempotency_key == "k-task"
    job = AuditLog.objects.filter(event_type="job.reprocess_stripe_events").last()
    assert job.metadata["refund_requests"] == {"recorded": 1, "refused": 0, "later": 0}
