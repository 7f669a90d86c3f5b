"""The webhook's queue mode (production's default): store, answer 200 at once, and
let a Celery worker apply the event; nothing is lost when the broker is down."""

import datetime as dt

import pytest
from django.utils import timezone

from catalog.tests.factories import VariantFactory
from orders.tests.factories import place_order
from payments.models import Payment, StripeEvent
from payments.services.reprocess import events_due_for_retry, events_reprocess_due
from payments.tasks import process_stripe_event_task
from payments.tests.events import intent_succeeded, post

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(settings, monkeypatch):
    """Queue mode, with the tasks sent to the broker recorded instead."""
    settings.STRIPE_WEBHOOK_PROCESSING = "queue"
    sent = []
    monkeypatch.setattr(process_stripe_event_task, "delay", sent.append)
    return sent


@pytest.fixture
def order(customer):
    return place_order(customer=customer, variants={VariantFactory(stock=5): 2})


def test_the_webhook_stores_answers_and_leaves_the_work_to_the_worker(
    client, queued, order
):
    response = post(client, intent_succeeded(order))

    assert (response.status_code, response.content) == (200, b"queued")
    event = StripeEvent.objects.get()
    assert event.status == "received" and queued == [event.pk]
    order.refresh_from_db()
    assert order.status == "pending" and not Payment.objects.exists()

    assert process_stripe_event_task(event.pk) == "processed"
    order.refresh_from_db()
    assert order.status == "paid" and Payment.objects.get().order == order
    assert order.lines.get().variant.stock_on_hand == 3


def test_replays_before_and_after_the_worker_apply_the_event_once(
    client, queued, order
):
    event = intent_succeeded(order)
    assert post(client, event).status_code == 200
    assert post(client, event).status_code == 200  # before the worker: queued again
    assert StripeEvent.objects.count() == 1 and len(queued) == 2

    statuses = [process_stripe_event_task(pk) for pk in queued]

    assert statuses == ["processed", "processed"]
    assert Payment.objects.count() == 1
    replay = post(client, event)
    assert (replay.status_code, replay.content) == (200, b"duplicate")
    assert len(queued) == 2  # an applied event is not queued again


def test_a_broker_outage_loses_nothing_the_reprocess_job_applies_it(
    client, settings, monkeypatch, order
):
    settings.STRIPE_WEBHOOK_PROCESSING = "queue"

    def broker_down(pk):
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379")

    monkeypatch.setattr(process_stripe_event_task, "delay", broker_down)
    assert post(client, intent_succeeded(order)).status_code == 200
    event = StripeEvent.objects.get()
    assert event.status == "received"

    now = timezone.now()
    assert not events_due_for_retry(now=now).exists()  # within the grace period
    later = now + dt.timedelta(minutes=15)
    assert events_reprocess_due(now=later, actor_label="test") == {"processed": 1}
    order.refresh_from_db()
    assert order.status == "paid" and Payment.objects.count() == 1


def test_a_bad_signature_in_queue_mode_stores_and_queues_nothing(client, queued, order):
    response = post(client, intent_succeeded(order), secret="whsec_wrong")

    assert response.status_code == 400
    assert not StripeEvent.objects.exists() and queued == []
