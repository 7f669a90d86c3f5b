"""A merchant's whole Stripe history from Stripe's object lists (README: history).

Stripe's Events API keeps 30 days; its object lists (`/v1/charges`, `/v1/refunds`,
… newest first, 100 a page) keep everything. A backfill reads every list below,
from the API (`ApiSource`, through the gateway, which waits out 429s) or from
JSON-lines files of the same objects (`DirSource`, a Stripe CLI or Sigma export),
and turns each object into the event(s) the webhook would have delivered for it,
dated by the Stripe time the object itself states (`object_events`). Those go
through the inbox (`importing.events_feed`): the same handlers, so the books are
the live pipeline's, a second run finds every event a duplicate and changes
nothing, and any order of lists or objects converges (the ledger's promise).
Balance transactions are recorded directly (`settlement.bt_record`), with the
payout that paid them out when the export names it.

Subscriptions before the event window are rebuilt from their invoices (each
invoice line's period, price and quantity is the subscription's state from the
period's start, as ChartMogul does); the subscription object itself is its newest
state. A plan change between two invoices therefore counts from the next
invoice, not the moment it was made (README, "A merchant's Stripe history on day one").

Each list has a checkpoint (`HistoryCheckpoint`: cursor and count) written after
every page, so an interrupted run resumes at the page it was on.
"""

import datetime as dt
import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from payments.gateway.stripe_api import ListNotFound
from payments.models import Dispute, HistoryCheckpoint, Payout, Refund
from payments.services.importing import (
    ImportProgress,
    ImportSummary,
    ProgressMeter,
    events_feed,
    queued_event,
)
from payments.services.settlement import bt_record
from payments.stripe_fields import listed, text
from payments.webhook import BadEvent

# Read in this order: prices and customers first (what later objects refer to),
# payments before what refers to them, balance transactions last.
RESOURCES = (
    "prices",
    "customers",
    "payment_intents",
    "charges",
    "refunds",
    "disputes",
    "invoices",
    "subscriptions",
    "payouts",
    "balance_transactions",
)
PAGE_SIZE = 100
HISTORY_EVENT_PREFIX = "evt_hist_"  # the events a backfill makes, not Stripe's
DISPUTE_CLOSED = {"won", "lost", "warning_closed", "charge_refunded", "prevented"}
SUBSCRIPTION_ENDED = {"canceled", "incomplete_expired"}


class BackfillError(Exception):
    """A source that cannot be read (a missing directory, a bad line's file)."""


@dataclass
class Known:
    """What later objects refer to: a charge's Stripe time, a price by id."""

    charge_created: dict[str, int] = field(default_factory=dict)
    prices: dict[str, dict] = field(default_factory=dict)


@dataclass
class BackfillSummary:
    """What a backfill read (objects per list), what became of the events made
    from them (`events`), and the balance transactions it recorded."""

    source: str
    objects: Counter = field(default_factory=Counter)
    resumed: dict[str, int] = field(default_factory=dict)  # list → objects before
    events: ImportSummary = field(default_factory=ImportSummary)
    balance_transactions: int = 0
    invalid: list[str] = field(default_factory=list)
    seconds: float = 0.0
    finished: bool = False  # every list read to its end

    def as_metadata(self) -> dict:
        return {
            "source": self.source,
            "objects": dict(self.objects),
            "resumed": self.resumed,
            "events": self.events.as_metadata(),
            "balance_transactions": self.balance_transactions,
            "invalid": self.invalid[:100],
            "seconds": round(self.seconds, 1),
        }


# -- sources ----------------------------------------------------------------------


class DirSource:
    """One JSON-lines file per list (`charges.jsonl`, …), one object a line as the
    API returns it; a missing file is an empty list. The cursor is a line number."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise BackfillError(f"{self.directory} is not a directory")
        self.label = f"dir:{self.directory.resolve()}"[:255]

    def _path(self, resource: str) -> Path:
        return self.directory / f"{resource}.jsonl"

    def total(self, resource: str) -> int:
        path = self._path(resource)
        if not path.exists():
            return 0
        with path.open("rb") as handle:
            return sum(1 for line in handle if line.strip())

    def pages(
        self, resource: str, *, cursor: str, invalid: Callable[[str], None]
    ) -> Iterator[tuple[list[dict], str]]:
        path = self._path(resource)
        if not path.exists():
            return
        skip = int(cursor or 0)
        page: list[dict] = []
        number = 0
        with path.open(encoding="utf-8") as handle:
            for number, raw in enumerate(handle, start=1):
                if number <= skip or not raw.strip():
                    continue
                try:
                    obj = json.loads(raw)
                except ValueError:
                    obj = None
                if isinstance(obj, dict) and isinstance(obj.get("id"), str):
                    page.append(obj)
                else:
                    invalid(f"{path.name} line {number}: not a Stripe object")
                if len(page) == PAGE_SIZE:
                    yield page, str(number)
                    page = []
        if page or number > skip:
            yield page, str(number)

    def known(self) -> Known:
        """Charges' times (a PaymentIntent succeeds when its charge is made) and
        prices, read ahead from their files."""
        found = Known()
        for resource in ("charges", "prices"):
            path = self._path(resource)
            if not path.exists():
                continue
            with path.open(encoding="utf-8") as handle:
                for raw in handle:
                    try:
                        obj = json.loads(raw)
                    except ValueError:
                        continue
                    if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
                        continue
                    if resource == "charges" and isinstance(obj.get("created"), int):
                        found.charge_created[obj["id"]] = obj["created"]
                    elif resource == "prices":
                        found.prices[obj["id"]] = obj
        return found


class ApiSource:
    """Stripe's list endpoints through the gateway, newest first, 100 a page; the
    cursor is the last id read (`starting_after`). `since`: only objects made at or
    after this Stripe time."""

    def __init__(self, gateway, *, since: int | None = None):
        self.gateway, self.since = gateway, since
        self.label = "api" if since is None else f"api:since:{since}"

    def total(self, resource: str) -> int:
        return 0  # a list does not say how long it is

    def pages(
        self, resource: str, *, cursor: str, invalid: Callable[[str], None]
    ) -> Iterator[tuple[list[dict], str]]:
        while True:
            try:
                objects, more = self.gateway.list_page(
                    resource=resource, starting_after=cursor, created_gte=self.since
                )
            except ListNotFound:
                invalid(f"{resource}: this server has no such list (404), skipped")
                return
            if objects:
                cursor = objects[-1]["id"]
            yield objects, cursor
            if not more or not objects:
                return

    def known(self) -> Known:
        return Known()  # the API expands a PaymentIntent's charge instead


# -- objects into events -----------------------------------------------------------


def _event(event_type: str, obj: dict, created: int) -> dict:
    """An event as the webhook would have received it; its id is a digest of the
    type, time and object, so the same object state is the same event again."""
    body = json.dumps([event_type, created, obj], sort_keys=True, default=str)
    digest = hashlib.sha256(body.encode()).hexdigest()[:32]
    return {
        "id": f"{HISTORY_EVENT_PREFIX}{digest}",
        "object": "event",
        "type": event_type,
        "created": created,
        "livemode": bool(obj.get("livemode")),
        "data": {"object": obj},
        "request": {"id": None, "idempotency_key": None},
    }


def _int(value) -> int | None:
    return value if isinstance(value, int) and value > 0 else None


def _intent_events(obj: dict, known: Known) -> list[dict]:
    status = obj.get("status")
    charge = obj.get("latest_charge")
    charge_time = (
        _int(charge.get("created"))
        if isinstance(charge, dict)
        else known.charge_created.get(charge if isinstance(charge, str) else "")
    )
    created = _int(obj.get("created")) or 1
    if status == "succeeded":
        # Stripe makes the charge as the intent succeeds: the payment's time.
        return [_event("payment_intent.succeeded", obj, charge_time or created)]
    if status == "processing":
        return [_event("payment_intent.processing", obj, created)]
    if status == "canceled":
        return [
            _event(
                "payment_intent.canceled", obj, _int(obj.get("canceled_at")) or created
            )
        ]
    if obj.get("last_payment_error"):
        return [_event("payment_intent.payment_failed", obj, charge_time or created)]
    return []


def _charge_events(obj: dict, known: Known) -> list[dict]:
    created = _int(obj.get("created")) or 1
    events = []
    if obj.get("status") == "succeeded":
        events.append(_event("charge.succeeded", obj, created))
    refunds = listed(obj, "refunds")
    if refunds:  # API versions before 2022-11-15 list them on the charge
        last = max(_int(r.get("created")) or created for r in refunds)
        events.append(_event("charge.refunded", obj, last))
    return events


def _refund_events(obj: dict, known: Known) -> list[dict]:
    created = _int(obj.get("created")) or 1
    if obj.get("status") in ("failed", "canceled"):
        failure = obj.get("failure_balance_transaction")
        at = _int(failure.get("created")) if isinstance(failure, dict) else None
        return [_event("refund.failed", obj, at or created)]
    return [_event("refund.created", obj, created)]


def _dispute_events(obj: dict, known: Known) -> list[dict]:
    """The dispute opened at its creation, its funds moved at their balance
    transactions' times, and (closed) its outcome at the latest of those or the
    evidence deadline; each event carries the object as listed."""
    created = _int(obj.get("created")) or 1
    status = obj.get("status") or "needs_response"
    opening = (
        "warning_needs_response" if status.startswith("warning") else "needs_response"
    )
    events = [_event("charge.dispute.created", dict(obj, status=opening), created)]
    moments = [created]
    for bt in listed(obj, "balance_transactions"):
        at, amount = _int(bt.get("created")), bt.get("amount")
        if at is None or not isinstance(amount, int) or amount == 0:
            continue
        kind = "funds_withdrawn" if amount < 0 else "funds_reinstated"
        # Funds go when the dispute opens and come back with its outcome.
        moved = dict(
            obj, balance_transactions=[bt], status=opening if amount < 0 else status
        )
        events.append(_event(f"charge.dispute.{kind}", moved, at))
        moments.append(at)
    if status != opening:
        due = obj.get("evidence_details")
        due_by = _int(due.get("due_by")) if isinstance(due, dict) else None
        if status in DISPUTE_CLOSED and due_by and due_by < time.time():
            moments.append(due_by)
        kind = "closed" if status in DISPUTE_CLOSED else "updated"
        events.append(_event(f"charge.dispute.{kind}", obj, max(moments)))
    return events


def _line_subscription(line: dict) -> tuple[str, str, bool]:
    """(subscription, subscription item, proration) of an invoice line, both shapes."""
    parent = line.get("parent") if isinstance(line.get("parent"), dict) else {}
    details = parent.get("subscription_item_details")
    if isinstance(details, dict):
        return (
            text(details, "subscription"),
            text(details, "subscription_item"),
            bool(details.get("proration")),
        )
    return (
        text(line, "subscription"),
        text(line, "subscription_item"),
        bool(line.get("proration")),
    )


def _line_price(line: dict, known: Known) -> dict | None:
    price = line.get("price")
    if isinstance(price, dict):
        return price
    pricing = line.get("pricing") if isinstance(line.get("pricing"), dict) else {}
    details = pricing.get("price_details")
    price_id = text(details, "price") if isinstance(details, dict) else ""
    return known.prices.get(price_id or (price if isinstance(price, str) else ""))


def _invoice_states(invoice: dict, known: Known) -> list[dict]:
    """What each subscription on a paid invoice was from its lines' period start:
    its items at the invoiced price and quantity (prorations are amounts, not
    states)."""
    items: dict[str, list[dict]] = {}
    starts: dict[str, int] = {}
    for line in listed(invoice, "lines"):
        subscription, item, proration = _line_subscription(line)
        period = line.get("period") if isinstance(line.get("period"), dict) else {}
        start, end = _int(period.get("start")), _int(period.get("end"))
        price = _line_price(line, known)
        if not subscription or proration or start is None or price is None:
            continue
        items.setdefault(subscription, []).append(
            {
                "id": item or f"si_hist_{line.get('id', '')}",
                "object": "subscription_item",
                "price": price,
                "quantity": line.get("quantity")
                if isinstance(line.get("quantity"), int)
                else 1,
                "current_period_start": start,
                "current_period_end": end,
            }
        )
        starts[subscription] = min(start, starts.get(subscription, start))
    first = invoice.get("billing_reason") == "subscription_create"
    return [
        _event(
            "customer.subscription.created"
            if first
            else "customer.subscription.updated",
            {
                "id": subscription,
                "object": "subscription",
                "customer": text(invoice, "customer"),
                "currency": invoice.get("currency"),
                "status": "active",
                "created": starts[subscription],
                "start_date": starts[subscription] if first else None,
                "items": {"object": "list", "data": lines},
                "metadata": {},
                "livemode": bool(invoice.get("livemode")),
            },
            starts[subscription],
        )
        for subscription, lines in sorted(items.items())
    ]


def _invoice_events(obj: dict, known: Known) -> list[dict]:
    if obj.get("status") != "paid":
        return []
    transitions = obj.get("status_transitions")
    transitions = transitions if isinstance(transitions, dict) else {}
    paid_at = _int(transitions.get("paid_at")) or _int(obj.get("created")) or 1
    events = [_event("invoice.paid", obj, paid_at)]
    for payment in listed(obj, "payments"):  # listed with expand[]=data.payments
        if payment.get("status") != "paid":
            continue
        stamps = payment.get("status_transitions")
        stamps = stamps if isinstance(stamps, dict) else {}
        at = _int(stamps.get("paid_at")) or _int(payment.get("created")) or paid_at
        events.append(
            _event("invoice_payment.paid", dict(payment, invoice=obj["id"]), at)
        )
    return events + _invoice_states(obj, known)


def _subscription_events(obj: dict, known: Known) -> list[dict]:
    """The subscription as listed: its newest state. Ended, at its end; else just
    after its current period began, after the state that period's invoice gave."""
    status = obj.get("status") or "incomplete"
    created = _int(obj.get("created")) or 1
    if status in SUBSCRIPTION_ENDED:
        at = _int(obj.get("ended_at")) or _int(obj.get("canceled_at")) or created
        return [_event("customer.subscription.deleted", obj, at)]
    starts = [
        _int(item.get("current_period_start")) for item in listed(obj, "items")
    ] + [_int(obj.get("current_period_start"))]
    began = max([s for s in starts if s] or [created])
    return [_event("customer.subscription.updated", obj, max(began, created) + 1)]


def _payout_events(obj: dict, known: Known) -> list[dict]:
    created = _int(obj.get("created")) or 1
    status = obj.get("status") or "pending"
    events = [_event("payout.created", dict(obj, status="pending"), created)]
    if status in ("paid", "failed"):
        at = max(_int(obj.get("arrival_date")) or created, created)
        events.append(_event(f"payout.{status}", obj, at))
    elif status != "pending":
        events.append(_event(f"payout.{status}", obj, created))
    return events


OBJECT_EVENTS = {
    "payment_intents": _intent_events,
    "charges": _charge_events,
    "refunds": _refund_events,
    "disputes": _dispute_events,
    "invoices": _invoice_events,
    "subscriptions": _subscription_events,
    "payouts": _payout_events,
}


def object_events(resource: str, obj: dict, known: Known) -> list[dict]:
    """The events the webhook would have delivered for this listed object, each
    dated by a Stripe time the object states."""
    maker = OBJECT_EVENTS.get(resource)
    return maker(obj, known) if maker else []


# -- the backfill --------------------------------------------------------------------


def _payout_of(bt: dict) -> str:
    """The payout a listed balance transaction was paid out by, when the export
    names it (Sigma's `automatic_transfer_id`, or `payout`)."""
    for key in ("payout", "automatic_transfer_id"):
        value = text(bt, key)
        if value.startswith("po_"):
            return value
    return ""


def _record_bts(objects: list[dict], summary: BackfillSummary) -> None:
    """Balance transactions from a list, with their payouts and (a refund's or a
    dispute's) the charge they belong to; a payout whose lines the export names is
    marked listed, so nobody asks Stripe for them again."""
    payouts = set()
    sources = [text(o, "source") for o in objects]
    charges = dict(
        Refund.objects.filter(stripe_refund_id__in=sources).values_list(
            "stripe_refund_id", "stripe_charge_id"
        )
    ) | dict(
        Dispute.objects.filter(stripe_dispute_id__in=sources).values_list(
            "stripe_dispute_id", "stripe_charge_id"
        )
    )
    with transaction.atomic():
        for obj in sorted(objects, key=lambda o: text(o, "id")):
            payout = _payout_of(obj) if text(obj, "type") != "payout" else ""
            charge = charges.get(text(obj, "source"), "")
            if bt_record(obj, charge=charge, payout=payout) is not None:
                summary.balance_transactions += 1
                if payout:
                    payouts.add(payout)
        Payout.objects.filter(
            stripe_payout_id__in=payouts, lines_fetched_at=None
        ).update(lines_fetched_at=timezone.now())


def _apply(
    resource: str,
    objects: list[dict],
    known: Known,
    summary: BackfillSummary,
    page: ImportSummary,
) -> None:
    """One page of a list into the ledger: its outcomes counted in `summary`, the
    days its money touched in `page`."""
    if resource == "balance_transactions":
        _record_bts(objects, summary)
        page.touch([o["created"] for o in objects if _int(o.get("created"))])
        return
    if resource == "prices":
        known.prices.update({o["id"]: o for o in objects})
        return
    if resource == "charges":
        for obj in objects:
            if _int(obj.get("created")):
                known.charge_created.setdefault(obj["id"], obj["created"])
    queued = []
    for obj in objects:
        for event in object_events(resource, obj, known):
            try:
                queued.append(queued_event(event))
            except BadEvent as exc:
                summary.invalid.append(f"{resource} {obj.get('id')}: {exc}")
    events_feed(queued, page)
    summary.events.merge(page)


def history_backfill(
    source,
    *,
    actor_label: str,
    restart: bool = False,
    progress: Callable[[ImportProgress], None] | None = None,
    stop_after_pages: int | None = None,
) -> BackfillSummary:
    """Read every list of `source` into the ledger, resuming each at its
    checkpoint; a source read to the end before (or `restart`) is read whole
    again, every event then a duplicate.

    Never inside a transaction: an API source calls Stripe per page. Writes, per
    page, what the inbox writes for its events (or the balance transactions) and
    the list's checkpoint; then one `stripe_history.imported` audit row.
    `stop_after_pages` stops early, as a crash would (for tests and drills).
    """
    began = time.monotonic()
    summary = BackfillSummary(source=source.label)
    known = source.known()
    pages_read = 0
    unfinished = HistoryCheckpoint.objects.filter(source=source.label, finished_at=None)
    restart = restart or not unfinished.exists()
    for resource in RESOURCES:
        checkpoint, _ = HistoryCheckpoint.objects.get_or_create(
            source=source.label, resource=resource
        )
        if restart:
            checkpoint.cursor, checkpoint.count, checkpoint.finished_at = "", 0, None
            checkpoint.save()
        if checkpoint.finished_at is not None:
            continue
        if checkpoint.count:
            summary.resumed[resource] = checkpoint.count
        meter = ProgressMeter(
            progress,
            stage=resource.replace("_", " "),
            unit="objects",
            total=max(source.total(resource) - checkpoint.count, 0),
            every=PAGE_SIZE * 5,
        )
        for objects, cursor in source.pages(
            resource, cursor=checkpoint.cursor, invalid=summary.invalid.append
        ):
            page = ImportSummary()
            _apply(resource, objects, known, summary, page)
            summary.objects[resource] += len(objects)
            checkpoint.cursor = cursor
            checkpoint.count += len(objects)
            if page.touched_from is not None:
                checkpoint.touched_from = min(
                    page.touched_from, checkpoint.touched_from or page.touched_from
                )
                checkpoint.touched_to = max(
                    page.touched_to, checkpoint.touched_to or page.touched_to
                )
            checkpoint.save()
            meter.advance(len(objects))
            pages_read += 1
            if stop_after_pages is not None and pages_read >= stop_after_pages:
                summary.seconds = time.monotonic() - began
                return summary
        checkpoint.finished_at = timezone.now()
        checkpoint.save(update_fields=["finished_at", "updated_at"])
    summary.seconds = time.monotonic() - began
    summary.finished = True
    # Days touched by earlier runs of a resumed backfill count too.
    for first, last in HistoryCheckpoint.objects.filter(
        source=source.label, touched_from__isnull=False
    ).values_list("touched_from", "touched_to"):
        summary.events.touched_from = min(first, summary.events.touched_from or first)
        summary.events.touched_to = max(last, summary.events.touched_to or last)
    audit_record(
        event_type="stripe_history.imported",
        actor_label=actor_label,
        metadata=summary.as_metadata(),
    )
    return summary


def since_timestamp(day: dt.date) -> int:
    return int(dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC).timestamp())
