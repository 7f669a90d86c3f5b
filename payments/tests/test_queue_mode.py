"""The webhook's queue mode (production's default): store, answer 200 at once, and
let a Celery worker apply the event; nothing is lost when the broker is down or a
worker dies mid-task (the sweep applies what no worker did, exactly once)."""

import datetime as dt
import logging
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from celery import current_app
from django.core.management import call_command
from django.db import connection
from django.db.models import F
from django.utils import timezone

from audit.models import AuditLog
from catalog.models import StockMovement
from catalog.tests.factories import VariantFactory
from orders.tests.factories import place_order
from payments.handlers import HANDLERS
from payments.models import Payment, StripeEvent
from payments.services.inbox import PROCESS_TASK
from payments.services.reprocess import (
    QUEUED_GRACE,
    events_due_for_retry,
    events_reprocess_due,
)
from payments.tests.events import intent_succeeded, post

pytestmark = pytest.mark.django_db
BASE_DIR = Path(__file__).resolve().parents[2]


def run_task(name, args):
    """Run a published task as a worker would find it: by name, in the registry
    the worker fills at start-up (every app's tasks module)."""
    current_app.loader.import_default_modules()
    return current_app.tasks[name](*args)


@pytest.fixture
def queued(settings, monkeypatch):
    """Queue mode, with the tasks published to the broker recorded instead."""
    settings.STRIPE_WEBHOOK_PROCESSING = "queue"
    sent = []

    def send_task(name, args=None, **options):
        sent.append((name, args, options))

    monkeypatch.setattr(current_app, "send_task", send_task)
    return sent


@pytest.fixture
def broker_down(settings, monkeypatch):
    """Queue mode with the broker's URL on a loopback port that is bound but not
    listening, so every connection to it is refused; yields the list of
    connection attempts made to that port."""
    settings.STRIPE_WEBHOOK_PROCESSING = "queue"
    app = current_app._get_current_object()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    attempts = []
    connect = socket.socket.connect

    def counting_connect(sock, address):
        if isinstance(address, tuple) and address[1] == port:
            attempts.append(address)
        return connect(sock, address)

    # No pooled connection or producer made for another broker URL is reused.
    app.close()
    monkeypatch.setattr(app.amqp, "_producer_pool", None)
    monkeypatch.setitem(app.conf, "broker_url", f"redis://127.0.0.1:{port}/0")
    monkeypatch.setattr(socket.socket, "connect", counting_connect)
    yield attempts
    app.close()
    closed.close()


@pytest.fixture
def order(customer):
    return place_order(customer=customer, variants={VariantFactory(stock=5): 2})


def _age(event, by):
    StripeEvent.objects.filter(pk=event.pk).update(received_at=F("received_at") - by)


def test_the_webhook_stores_answers_and_leaves_the_work_to_the_worker(
    client, queued, order, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, intent_succeeded(order))

    assert (response.status_code, response.content) == (200, b"queued")
    event = StripeEvent.objects.get()
    assert event.status == "received"
    assert queued == [("payments.process_stripe_event", [event.pk], {"retry": False})]
    order.refresh_from_db()
    assert order.status == "pending" and not Payment.objects.exists()

    name, args, _options = queued[0]
    assert run_task(name, args) == "processed"
    order.refresh_from_db()
    assert order.status == "paid" and Payment.objects.get().order == order
    assert order.lines.get().variant.stock_on_hand == 3


def test_the_task_is_published_only_once_the_event_is_committed(
    client, queued, order, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        post(client, intent_succeeded(order))
        assert queued == []  # a worker could not see the row yet

    for callback in callbacks:
        callback()
    assert [name for name, _args, _options in queued] == [PROCESS_TASK]


def test_replays_before_and_after_the_worker_apply_the_event_once(
    client, queued, order, django_capture_on_commit_callbacks
):
    event = intent_succeeded(order)
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, event).status_code == 200
        assert post(client, event).status_code == 200  # before the worker: again
    assert StripeEvent.objects.count() == 1 and len(queued) == 2

    statuses = [run_task(name, args) for name, args, _options in queued]

    assert statuses == ["processed", "processed"]
    assert Payment.objects.count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        replay = post(client, event)
    assert (replay.status_code, replay.content) == (200, b"duplicate")
    assert len(queued) == 2  # an applied event is not queued again


def test_with_the_broker_down_the_webhook_stores_answers_and_tries_once(
    client, broker_down, order, django_capture_on_commit_callbacks, caplog
):
    with (
        caplog.at_level(logging.WARNING, "payments.webhook"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = post(client, intent_succeeded(order))

    assert (response.status_code, response.content) == (200, b"queued")
    event = StripeEvent.objects.get()
    assert (event.status, event.attempts) == ("received", 0)
    assert len(broker_down) == 1  # one refused connection, no retry loop
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.getMessage() == (
        f"webhook {event.event_id}: not queued (OperationalError); "
        "the reprocess job will apply it"
    )
    assert warning.outcome == "not_queued"


def test_a_broker_outage_loses_nothing_the_reprocess_job_applies_it(
    client, broker_down, order, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, intent_succeeded(order)).status_code == 200
    event = StripeEvent.objects.get()
    assert event.status == "received"

    now = timezone.now()
    assert not events_due_for_retry(now=now).exists()  # within the grace period
    later = now + QUEUED_GRACE
    assert events_reprocess_due(now=later, actor_label="test") == {"processed": 1}
    order.refresh_from_db()
    assert order.status == "paid" and Payment.objects.count() == 1
    assert len(broker_down) == 1  # the sweep itself needs no broker


def test_a_bad_signature_in_queue_mode_stores_and_queues_nothing(
    client, queued, order, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, intent_succeeded(order), secret="whsec_wrong")

    assert response.status_code == 400
    assert not StripeEvent.objects.exists() and queued == []


# --- reprocess_stripe_events --stuck: the sweep from cron, without the broker ----


def test_stuck_applies_events_left_received_past_the_grace_without_the_broker(
    client, broker_down, customer, django_capture_on_commit_callbacks, capsys
):
    variant = VariantFactory(stock=5)
    lost = place_order(customer=customer, variants={variant: 1})
    fresh = place_order(customer=customer, variants={variant: 1})
    with django_capture_on_commit_callbacks(execute=True):
        post(client, intent_succeeded(lost, pi="pi_lost", charge="ch_lost"))
        post(client, intent_succeeded(fresh, pi="pi_fresh", charge="ch_fresh"))
    lost_event, fresh_event = StripeEvent.objects.order_by("pk")
    _age(lost_event, QUEUED_GRACE + dt.timedelta(seconds=1))
    _age(fresh_event, QUEUED_GRACE - dt.timedelta(minutes=1))
    tried = len(broker_down)

    call_command("reprocess_stripe_events", "--stuck")

    assert capsys.readouterr().out.splitlines() == ["1 event(s) now processed"]
    lost_event.refresh_from_db()
    fresh_event.refresh_from_db()
    assert (lost_event.status, fresh_event.status) == ("processed", "received")
    assert Payment.objects.get().stripe_payment_intent == "pi_lost"
    assert len(broker_down) == tried  # no Celery call
    row = AuditLog.objects.get(event_type="stripe_events.reprocessed")
    assert row.actor_label.startswith("cli:")
    assert row.metadata == {
        "failed": False,
        "pending": False,
        "stuck": True,
        "event_id": "",
        "outcome": {"processed": 1},
    }


def test_stuck_leaves_failed_and_pending_events_alone(capsys):
    for status in ("failed", "pending"):
        event = StripeEvent.objects.create(
            event_id=f"evt_{status}",
            type="payment_intent.succeeded",
            stripe_created=timezone.now(),
            payload={},
            status=status,
        )
        _age(event, dt.timedelta(days=1))

    call_command("reprocess_stripe_events", "--stuck")

    assert capsys.readouterr().out.splitlines() == ["nothing to reprocess"]
    assert sorted(StripeEvent.objects.values_list("status", flat=True)) == [
        "failed",
        "pending",
    ]


# --- a worker killed mid-task ----------------------------------------------------


class WorkerKilled(BaseException):
    """Stands for SIGKILL: no `except Exception` sees it, so nothing after the
    kill runs, and the open transaction is rolled back as the dying session's
    would be."""


@pytest.mark.parametrize("recovery", ["scheduled sweep", "reprocess --stuck"])
def test_a_worker_killed_mid_task_leaves_the_event_to_the_sweep_applied_once(
    recovery, client, queued, order, monkeypatch, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        post(client, intent_succeeded(order))
    ((name, args, _options),) = queued
    event = StripeEvent.objects.get()
    applies = HANDLERS["payment_intent.succeeded"]

    def killed_before_commit(payload):
        applies(payload)  # the payment row and the stock decrement are written
        raise WorkerKilled

    with monkeypatch.context() as m:
        m.setitem(HANDLERS, "payment_intent.succeeded", killed_before_commit)
        with pytest.raises(WorkerKilled):
            run_task(name, args)

    event.refresh_from_db()
    assert (event.status, event.attempts) == ("received", 0)
    assert not Payment.objects.exists()
    assert order.lines.get().variant.stock_on_hand == 5
    assert not events_due_for_retry(now=timezone.now()).exists()  # grace first

    _age(event, QUEUED_GRACE)
    if recovery == "scheduled sweep":
        from payments.tasks import reprocess_stripe_events_task

        assert reprocess_stripe_events_task.apply().get() == {"processed": 1}
    else:
        call_command("reprocess_stripe_events", "--stuck")
    # Redis redelivers the unacknowledged task (acks_late) after the sweep: a no-op.
    assert run_task(name, args) == "processed"
    call_command("reprocess_stripe_events", "--stuck")  # nothing left to apply

    event.refresh_from_db()
    order.refresh_from_db()
    assert (event.status, event.attempts, order.status) == ("processed", 1, "paid")
    assert Payment.objects.count() == 1
    assert StockMovement.objects.filter(reason="sale").count() == 1
    assert order.lines.get().variant.stock_on_hand == 3
    outcomes = [
        (row.metadata["event_id"], row.metadata["stuck"], row.metadata["outcome"])
        for row in AuditLog.objects.filter(
            event_type="stripe_events.reprocessed"
        ).order_by("pk")
    ]
    first = (
        (event.event_id, False, {"processed": 1})
        if recovery == "scheduled sweep"
        else ("", True, {"processed": 1})
    )
    assert outcomes == [first, ("", True, {})]


def _database_url():
    db = connection.settings_dict
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    return (
        f"postgres://{quote(db['USER'], safe='')}{password}"
        f"@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )


KILLED_WORKER = """
import os, signal
from celery import current_app
from payments.handlers import HANDLERS

applies = HANDLERS["payment_intent.succeeded"]

def killed_before_commit(payload):
    applies(payload)
    os.kill(os.getpid(), signal.SIGKILL)

HANDLERS["payment_intent.succeeded"] = killed_before_commit
current_app.loader.import_default_modules()
current_app.tasks[{name!r}](*{args!r})
"""


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_process_killed_with_sigkill_mid_task_loses_nothing(
    client, queued, order
):
    """The real thing: a process running the task is SIGKILLed after the handler
    wrote, before commit; PostgreSQL rolls its transaction back and frees the
    row lock, and the sweep applies the event once."""
    post(client, intent_succeeded(order))  # autocommit: published at once
    ((name, args, _options),) = queued
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "purelaka.settings_postgres",
        "DATABASE_URL": _database_url(),
    }

    worker = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            KILLED_WORKER.format(name=name, args=args),
        ],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert worker.returncode == -signal.SIGKILL, worker.stderr
    event = StripeEvent.objects.get()
    assert (event.status, event.attempts) == ("received", 0)
    assert not Payment.objects.exists()
    assert order.lines.get().variant.stock_on_hand == 5
    later = timezone.now() + QUEUED_GRACE
    assert events_reprocess_due(now=later, actor_label="test") == {"processed": 1}
    assert events_reprocess_due(now=later, actor_label="test") == {}
    assert Payment.objects.count() == 1
    assert order.lines.get().variant.stock_on_hand == 3
