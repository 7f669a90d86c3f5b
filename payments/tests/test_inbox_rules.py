"""The StripeEvent inbox's rules, down to what each path writes on the event row and
the one log line per event operators search by (tests that kill the mutants of
payments/services/inbox.py, docs/testing.md).

Most tests give an event type of their own (`TYPE`) a handler written for the
test, so each outcome (applied, waiting, failing, waking) is the only thing that
happens."""

import logging

import pytest
from celery import current_app
from django.db import DatabaseError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from payments.handlers import HANDLERS, NotYet, Woken
from payments.models import StripeEvent
from payments.services import inbox
from payments.tests.events import envelope, post

pytestmark = pytest.mark.django_db
LOGGER = "payments.webhook"  # the name operators search the outcome lines by
TYPE = "test.inbox_rule"  # no Stripe type: its handler is the test's
UNHANDLED = "customer.created"  # a Stripe type the shop has no handler for
# The two ways an event is applied: the webhook's (insert and apply in one
# transaction), and the import's, the worker's and reprocessing's (stored first).
PATHS = ["store_and_process", "store_then_process"]


@pytest.fixture
def handle(monkeypatch):
    """handle(fn): `fn(payload)` is the handler of TYPE for this test."""

    def install(fn):
        monkeypatch.setitem(HANDLERS, TYPE, fn)

    return install


@pytest.fixture
def published(monkeypatch):
    """The tasks queue mode publishes, recorded instead of sent to a broker."""
    sent = []
    monkeypatch.setattr(
        current_app, "send_task", lambda name, args=None, **kw: sent.append(args)
    )
    return sent


def _event(obj_id="obj_1", event_type=TYPE, **fields):
    return envelope(event_type, {"id": obj_id, "object": "thing", **fields})


def _apply(path, data):
    if path == "store_and_process":
        return inbox.store_and_process(data=data)
    event, _created = inbox.store(data=data)
    return inbox.process(event_pk=event.pk)


def _lines(caplog):
    """The inbox's log lines: (level, message, the `extra=` fields)."""
    return [
        (
            r.levelno,
            r.getMessage(),
            (
                getattr(r, "stripe_event_id", None),
                getattr(r, "stripe_event_type", None),
                getattr(r, "outcome", None),
            ),
        )
        for r in caplog.records
        if r.name == LOGGER
    ]


# --- store: one row per event id, Stripe's facts cut to the columns --------------


def test_a_stored_event_keeps_stripes_facts_cut_to_the_columns():
    data = _event("obj_" + "x" * 300)
    data |= {"api_version": "v" * 60, "livemode": True}

    event, created = inbox.store(data=data)

    stored = StripeEvent.objects.get()
    assert (created, event.pk) == (True, stored.pk)
    assert (stored.api_version, stored.livemode, stored.object_id) == (
        "v" * 50,
        True,
        ("obj_" + "x" * 300)[:255],
    )
    assert (stored.status, stored.attempts, stored.processed_at) == (
        "received",
        0,
        None,
    )
    again, created = inbox.store(data=data)
    assert (created, again.pk, StripeEvent.objects.count()) == (False, stored.pk, 1)


def test_an_event_without_an_api_version_or_an_object_id_stores_them_blank():
    data = envelope(TYPE, {"object": "thing"})
    del data["api_version"], data["livemode"]

    inbox.store(data=data)

    stored = StripeEvent.objects.get()
    assert (stored.api_version, stored.object_id, stored.livemode) == ("", "", False)


# --- applying: the outcome on the row, one log line ------------------------------


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    ("event_type", "outcome"), [(UNHANDLED, "ignored"), (TYPE, "processed")]
)
def test_an_applied_event_records_its_outcome_and_logs_one_info_line(
    caplog, handle, path, event_type, outcome
):
    handle(lambda payload: None)
    data = _event(event_type=event_type)
    before = timezone.now()

    with caplog.at_level(logging.INFO, LOGGER):
        returned = _apply(path, data)

    stored = StripeEvent.objects.get()
    assert returned.pk == stored.pk
    assert (stored.status, stored.awaiting, stored.attempts, stored.last_error) == (
        outcome,
        "",
        1,
        "",
    )
    assert before <= stored.processed_at <= timezone.now()
    assert _lines(caplog) == [
        (
            logging.INFO,
            f"webhook {data['id']} {event_type}: {outcome}",
            (data["id"], event_type, outcome),
        )
    ]


@pytest.mark.parametrize("path", PATHS)
def test_an_event_that_cannot_apply_yet_waits_pending_and_says_for_what(
    caplog, handle, path
):
    def not_yet(payload):
        raise NotYet(awaiting="ch_first")

    handle(not_yet)
    data = _event()

    with caplog.at_level(logging.INFO, LOGGER):
        _apply(path, data)

    stored = StripeEvent.objects.get()
    assert (stored.status, stored.awaiting, stored.attempts, stored.last_error) == (
        "pending",
        "ch_first",
        1,
        "",
    )
    assert stored.processed_at is not None
    assert _lines(caplog) == [
        (
            logging.INFO,
            f"webhook {data['id']} {TYPE}: pending (awaiting ch_first)",
            (data["id"], TYPE, "pending"),
        )
    ]


def test_what_a_pending_event_awaits_is_cut_to_its_column(handle):
    def not_yet(payload):
        raise NotYet(awaiting="ch_" + "w" * 300)

    handle(not_yet)
    inbox.store_and_process(data=_event())

    assert StripeEvent.objects.get().awaiting == ("ch_" + "w" * 300)[:255]


def test_processing_writes_the_outcome_columns_and_never_the_payload_again(handle):
    """The payload (up to a MiB) is written once, by store: applying the event
    updates only what processing changes."""
    handle(lambda payload: None)
    event, _created = inbox.store(data=_event())

    with CaptureQueriesContext(connection) as queries:
        inbox.process(event_pk=event.pk)

    updates = [
        q["sql"]
        for q in queries
        if q["sql"].startswith("UPDATE") and '"payments_stripeevent"' in q["sql"]
    ]
    assert len(updates) == 1
    assert '"status"' in updates[0] and '"processed_at"' in updates[0]
    assert '"payload"' not in updates[0] and '"event_id"' not in updates[0]


@pytest.mark.parametrize("path", PATHS)
def test_an_event_that_applies_wakes_the_events_waiting_for_it(handle, path):
    known = set()

    def needs_its_parent(payload):
        obj = payload["data"]["object"]
        if obj.get("parent") and obj["parent"] not in known:
            raise NotYet(awaiting=obj["parent"])
        known.add(obj["id"])
        return Woken(ids=[obj["id"]])

    handle(needs_its_parent)
    child = inbox.store_and_process(data=_event("obj_child", parent="obj_parent"))
    assert (child.status, child.awaiting) == ("pending", "obj_parent")

    _apply(path, _event("obj_parent"))

    child.refresh_from_db()
    assert (child.status, child.awaiting, child.attempts) == ("processed", "", 2)
    assert known == {"obj_parent", "obj_child"}


# --- failures --------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
def test_a_failing_handler_leaves_the_event_failed_with_its_error_logged_as_one(
    caplog, handle, path
):
    """One delivery runs the handler once, even when a second try would pass: the
    retry is Stripe's (or reprocessing's), with its backoff."""
    calls = []

    def fails_once(payload):
        calls.append(payload["id"])
        if len(calls) == 1:
            raise DatabaseError("connection lost")

    handle(fails_once)
    data = _event()

    with caplog.at_level(logging.INFO, LOGGER):
        returned = _apply(path, data)

    stored = StripeEvent.objects.get()
    assert calls == [data["id"]]
    assert (returned.pk, returned.status) == (stored.pk, "failed")
    assert (stored.status, stored.attempts, stored.last_error) == (
        "failed",
        1,
        "DatabaseError: connection lost",
    )
    assert stored.processed_at is not None
    assert _lines(caplog) == [
        (
            logging.ERROR,
            f"webhook {data['id']} {TYPE}: failed (DatabaseError)",
            (data["id"], TYPE, "failed"),
        )
    ]


def test_a_long_error_is_kept_cut_to_five_thousand_characters(handle):
    def fails(payload):
        raise ValueError("x" * 6000)

    handle(fails)
    inbox.store_and_process(data=_event())

    assert StripeEvent.objects.get().last_error == ("ValueError: " + "x" * 6000)[:5000]


def test_a_redelivered_failed_event_is_applied_again_and_answered_as_it_ends(
    client, caplog, handle
):
    """Stripe's retries of a failed event run it again: 500 while it still fails,
    its outcome once it applies, and `duplicate` for any delivery after that."""
    errors = [DatabaseError("down"), DatabaseError("still down")]

    def fails_twice(payload):
        if errors:
            raise errors.pop(0)

    handle(fails_twice)
    data = _event()

    answers = [post(client, data) for _ in range(3)]
    caplog.clear()
    with caplog.at_level(logging.INFO, LOGGER):
        replay = post(client, data)

    assert [(a.status_code, a.content) for a in [*answers, replay]] == [
        (500, b"processing failed; Stripe will retry"),
        (500, b"processing failed; Stripe will retry"),
        (200, b"processed"),
        (200, b"duplicate"),
    ]
    stored = StripeEvent.objects.get()
    assert (stored.status, stored.attempts, stored.last_error) == ("processed", 3, "")
    assert _lines(caplog) == [
        (
            logging.INFO,
            f"webhook {data['id']} {TYPE}: duplicate (no-op)",
            (data["id"], TYPE, "duplicate"),
        )
    ]


def test_processing_an_applied_event_again_changes_nothing_and_says_so(caplog, handle):
    calls = []
    handle(calls.append)
    event = inbox.store_and_process(data=_event())
    caplog.clear()

    with caplog.at_level(logging.INFO, LOGGER):
        again = inbox.process(event_pk=event.pk)

    assert len(calls) == 1
    assert (again.status, again.attempts) == ("processed", 1)
    assert StripeEvent.objects.get().attempts == 1
    assert _lines(caplog) == [
        (
            logging.INFO,
            f"webhook {event.event_id} {TYPE}: duplicate (already processed)",
            (event.event_id, TYPE, "duplicate"),
        )
    ]


# --- queue mode ------------------------------------------------------------------


def test_queue_mode_logs_the_event_queued_then_a_replay_once_applied_as_a_duplicate(
    caplog, published, django_capture_on_commit_callbacks
):
    data = _event(event_type=UNHANDLED)

    with (
        caplog.at_level(logging.INFO, LOGGER),
        django_capture_on_commit_callbacks(execute=True),
    ):
        event, queued = inbox.enqueue(data=data)
    assert (queued, published) == (True, [[event.pk]])
    assert _lines(caplog) == [
        (
            logging.INFO,
            f"webhook {data['id']} {UNHANDLED}: queued",
            (data["id"], UNHANDLED, "queued"),
        )
    ]

    inbox.process(event_pk=event.pk)
    caplog.clear()
    with (
        caplog.at_level(logging.INFO, LOGGER),
        django_capture_on_commit_callbacks(execute=True),
    ):
        again, queued = inbox.enqueue(data=data)

    assert (queued, again.pk, published) == (False, event.pk, [[event.pk]])
    assert _lines(caplog) == [
        (
            logging.INFO,
            f"webhook {data['id']} {UNHANDLED}: duplicate (no-op)",
            (data["id"], UNHANDLED, "duplicate"),
        )
    ]


def test_an_event_the_broker_refuses_stays_received_and_is_logged_under_its_id(
    caplog, monkeypatch, django_capture_on_commit_callbacks
):
    def refused(*args, **kwargs):
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(current_app, "send_task", refused)
    data = _event(event_type=UNHANDLED)

    with (
        caplog.at_level(logging.INFO, LOGGER),
        django_capture_on_commit_callbacks(execute=True),
    ):
        _stored, queued = inbox.enqueue(data=data)

    assert queued and StripeEvent.objects.get().status == "received"
    warnings = [
        (r.getMessage(), r.stripe_event_id, r.outcome)
        for r in caplog.records
        if r.name == LOGGER and r.levelno == logging.WARNING
    ]
    assert warnings == [
        (
            f"webhook {data['id']}: not queued (ConnectionRefusedError); "
            "the reprocess job will apply it",
            data["id"],
            "not_queued",
        )
    ]
