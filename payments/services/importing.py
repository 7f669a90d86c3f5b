"""Importing a file of Stripe events: a merchant's history through the webhook path.

The file is JSONL as the Events API (`GET /v1/events`, `stripe events list`)
gives events: one event per line, or one list page per line
(`{"object": "list", "data": [...]}`, expanded). Every event is checked like a
webhook body, then all of them are fed in Stripe time order (`created`, ties by
event id) through the inbox (`payments.services.inbox.store` and `process`): the
same handlers, so an import is idempotent and may overlap webhook deliveries.

The summary names the business days whose money the import touched; bringing the
snapshots up to date is analytics' (`analyticsapp.services.history`, which the
`import_stripe_events` command runs), so payments never imports analyticsapp.
"""

import datetime as dt
import json
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.db import DataError

from audit.services import audit_record
from core.timeutils import business_day
from payments.models import StripeEvent
from payments.services.inbox import process, store
from payments.webhook import BadEvent, _check_shape

Status = StripeEvent.Status
# How an event fared: stored now and applied / without a handler / waiting for
# another object / raising; or already in the inbox before (left as it was).
OUTCOMES = ("new", "ignored", "pending", "failed", "duplicate")
_OUTCOME_OF_STATUS = {
    Status.PROCESSED: "new",
    Status.IGNORED: "ignored",
    Status.PENDING: "pending",
    Status.FAILED: "failed",
}
PROGRESS_EVERY = 250
INVALID_KEPT = 100  # line numbers kept in the summary (and its audit row)
MAX_ID_LENGTH = StripeEvent._meta.get_field("event_id").max_length
MAX_TYPE_LENGTH = StripeEvent._meta.get_field("type").max_length
LAST_TIMESTAMP = 253_402_300_800  # 10000-01-01: past it, no datetime


@dataclass(frozen=True)
class ImportProgress:
    """Where a running import is: `done` of `total` `unit`s in its `stage`."""

    stage: str  # "events", then "snapshots"
    done: int
    total: int
    unit: str
    rate: float  # units per second so far
    eta_seconds: float


@dataclass(frozen=True)
class InvalidLine:
    line: int
    reason: str


@dataclass
class ImportSummary:
    """What an import did: outcomes by event type, invalid lines, and the first and
    last business day whose money it touched (None when it stored nothing new)."""

    file_name: str = ""
    lines: int = 0
    by_type: dict[str, Counter] = field(default_factory=dict)
    invalid_count: int = 0
    invalid: list[InvalidLine] = field(default_factory=list)  # the first 100
    touched_from: dt.date | None = None
    touched_to: dt.date | None = None
    seconds: float = 0.0

    def count(self, event_type: str, outcome: str) -> None:
        self.by_type.setdefault(event_type, Counter())[outcome] += 1

    def count_invalid(self, line: int, reason: str) -> None:
        self.invalid_count += 1
        if len(self.invalid) < INVALID_KEPT:
            self.invalid.append(InvalidLine(line, reason))

    @property
    def totals(self) -> Counter:
        totals = Counter(dict.fromkeys(OUTCOMES, 0))
        for counts in self.by_type.values():
            totals.update(counts)
        totals["invalid"] = self.invalid_count
        return totals

    @property
    def events(self) -> int:
        return sum(sum(counts.values()) for counts in self.by_type.values())

    def merge(self, other: "ImportSummary") -> None:
        """Add another summary's outcomes, invalid lines and touched days."""
        for event_type, counts in other.by_type.items():
            self.by_type.setdefault(event_type, Counter()).update(counts)
        self.invalid_count += other.invalid_count
        self.invalid += other.invalid[: max(INVALID_KEPT - len(self.invalid), 0)]
        for day in (other.touched_from, other.touched_to):
            if day is not None:
                self.touched_from = min(day, self.touched_from or day)
                self.touched_to = max(day, self.touched_to or day)

    def touch(self, moments: list[int]) -> None:
        """Widen the touched days to these Stripe times."""
        span = _touched(moments)
        if span is None:
            return
        first, last = span
        self.touched_from = min(first, self.touched_from or first)
        self.touched_to = max(last, self.touched_to or last)

    @property
    def touched_days(self) -> int:
        if self.touched_from is None or self.touched_to is None:
            return 0
        return (self.touched_to - self.touched_from).days + 1

    def as_metadata(self) -> dict:
        return {
            "file": self.file_name,
            "lines": self.lines,
            "events": self.events,
            "totals": dict(self.totals),
            "by_type": {
                event_type: {o: counts[o] for o in OUTCOMES if counts[o]}
                for event_type, counts in sorted(self.by_type.items())
            },
            "invalid_lines": [[i.line, i.reason] for i in self.invalid],
            "days_touched": {
                "from": self.touched_from.isoformat() if self.touched_from else None,
                "to": self.touched_to.isoformat() if self.touched_to else None,
                "days": self.touched_days,
            },
            "seconds": round(self.seconds, 1),
        }


@dataclass(frozen=True, order=True)
class _Queued:
    """A checked event waiting its turn; kept as text to hold less memory."""

    created: int
    event_id: str
    line: int
    text: str = field(compare=False)
    event_type: str = field(compare=False)


class ProgressMeter:
    """Calls `progress` every `every` units (and at the end) with rate and ETA."""

    def __init__(self, progress, *, stage: str, unit: str, total: int, every: int):
        self.progress, self.stage, self.unit = progress, stage, unit
        self.total, self.every, self.done = total, max(every, 1), 0
        self.began = time.monotonic()

    def advance(self, count: int = 1) -> None:
        before, self.done = self.done, self.done + count
        if self.progress and (
            self.done // self.every != before // self.every or self.done == self.total
        ):
            elapsed = max(time.monotonic() - self.began, 1e-9)
            rate = self.done / elapsed
            self.progress(
                ImportProgress(
                    stage=self.stage,
                    done=self.done,
                    total=self.total,
                    unit=self.unit,
                    rate=rate,
                    eta_seconds=(self.total - self.done) / rate if rate else 0.0,
                )
            )


def _read(lines: Iterable[str], summary: ImportSummary) -> list[_Queued]:
    """Every valid event of the file, sorted by Stripe time then event id; bad
    lines (and bad items of a list page) are counted in `summary.invalid`."""
    invalid = summary.count_invalid
    queued = []
    for number, raw in enumerate(lines, start=1):
        summary.lines = number
        text = raw.strip().lstrip("\ufeff")
        if not text:
            continue
        try:
            data = json.loads(text)
        except ValueError:
            invalid(number, "not JSON")
            continue
        page = isinstance(data, dict) and data.get("object") == "list"
        if page and not isinstance(data.get("data"), list):
            invalid(number, "list page without a data list")
            continue
        for position, item in enumerate(data["data"] if page else [data], start=1):
            try:
                event = _check_storable(_check_shape(item))
            except BadEvent as exc:
                invalid(number, f"item {position}: {exc}" if page else str(exc))
                continue
            queued.append(
                _Queued(
                    created=event["created"],
                    event_id=event["id"],
                    line=number,
                    text=json.dumps(event) if page else text,
                    event_type=event["type"],
                )
            )
    queued.sort()
    return queued


def _check_storable(event: dict) -> dict:
    """What the inbox columns hold: a webhook body this odd fails loudly, but one
    line of a file must not stop the rest."""
    if len(event["id"]) > MAX_ID_LENGTH:
        raise BadEvent(f"event id longer than {MAX_ID_LENGTH} characters")
    if len(event["type"]) > MAX_TYPE_LENGTH:
        raise BadEvent(f"event type longer than {MAX_TYPE_LENGTH} characters")
    if not 0 < event["created"] < LAST_TIMESTAMP:
        raise BadEvent("event created time out of range")
    return event


def _already_handled(event_ids: list[str]) -> set[str]:
    """The ids among these already in the inbox and past `received` (a re-import
    then skips them without an insert that would fail)."""
    handled: set[str] = set()
    for start in range(0, len(event_ids), 500):
        handled.update(
            StripeEvent.objects.filter(event_id__in=event_ids[start : start + 500])
            .exclude(status=Status.RECEIVED)
            .values_list("event_id", flat=True)
        )
    return handled


def _store_and_process(item: _Queued, summary: ImportSummary):
    """Feed one event through the inbox. Returns its inbox pk and money moments
    when this import stored it, else (None, []) once it is counted."""
    data = json.loads(item.text)
    try:
        event, created = store(data=data)
    except DataError as exc:  # e.g. \u0000, which PostgreSQL's JSON refuses
        summary.count_invalid(item.line, f"not storable: {exc}"[:200])
        return None, []
    if not created and event.status != Status.RECEIVED:
        # Stored meanwhile: by a webhook, or the same id twice in the file.
        summary.count(item.event_type, "duplicate")
        return None, []
    process(event_pk=event.pk)
    return event.pk, _money_moments(data)


def _money_moments(data: dict) -> list[int]:
    """Stripe times at which this event may count in a snapshot: its own
    `created`, and the object's time where money is dated by it (a refund's or
    a lone charge's `created`, an invoice's `status_transitions.paid_at`)."""
    obj = data["data"]["object"]
    moments = [data["created"]]
    if obj.get("object") in ("refund", "charge"):
        moments.append(obj.get("created"))
    refunds = obj.get("refunds") if isinstance(obj.get("refunds"), dict) else {}
    if isinstance(refunds.get("data"), list):
        moments += [r.get("created") for r in refunds["data"] if isinstance(r, dict)]
    transitions = obj.get("status_transitions")
    if isinstance(transitions, dict):
        moments.append(transitions.get("paid_at"))
    return [m for m in moments if isinstance(m, int) and m > 0]


def _day_of(stripe_time: int) -> dt.date:
    return business_day(dt.datetime.fromtimestamp(stripe_time, tz=dt.UTC))


def _touched(moments: list[int]) -> tuple[dt.date, dt.date] | None:
    """The first and the last business day of these Stripe times."""
    if not moments:
        return None
    return _day_of(min(moments)), _day_of(max(moments))


def queued_event(event: dict, *, line: int = 0) -> _Queued:
    """An event made here (not read from a file) in the form `events_feed` takes;
    raises BadEvent when it is not one the inbox can store."""
    event = _check_storable(_check_shape(event))
    return _Queued(
        created=event["created"],
        event_id=event["id"],
        line=line,
        text=json.dumps(event),
        event_type=event["type"],
    )


def events_feed(
    queued: list[_Queued],
    summary: ImportSummary,
    *,
    advance: Callable[[], None] | None = None,
) -> None:
    """Store and process these events through the inbox, oldest first, counting
    each outcome in `summary` and widening its touched days.

    An event already in the inbox (or earlier in `queued`) is a duplicate, left
    as it was. Events that waited since earlier deliveries and were applied now
    count on their days too. Writes what the webhook writes for each event.
    """
    queued = sorted(queued)
    waiting_before = list(
        StripeEvent.objects.filter(status=Status.PENDING).values_list("pk", flat=True)
    )
    known = _already_handled([item.event_id for item in queued])
    stored: list[int] = []
    moments: list[int] = []
    for item in queued:
        if item.event_id in known:  # in the inbox, or earlier in this file
            summary.count(item.event_type, "duplicate")
        else:
            pk, event_moments = _store_and_process(item, summary)
            if pk is not None:
                stored.append(pk)
                moments.extend(event_moments)
            known.add(item.event_id)
        if advance is not None:
            advance()
    for start in range(0, len(stored), 500):
        chunk = StripeEvent.objects.filter(pk__in=stored[start : start + 500])
        for event_type, status in chunk.values_list("type", "status"):
            summary.count(event_type, _OUTCOME_OF_STATUS.get(status, "pending"))
    woken = StripeEvent.objects.filter(pk__in=waiting_before).exclude(
        status=Status.PENDING
    )
    for payload in woken.values_list("payload", flat=True).iterator():
        moments.extend(_money_moments(payload))
    summary.touch(moments)


def events_import(
    *,
    lines: Iterable[str],
    actor_label: str,
    file_name: str = "",
    progress: Callable[[ImportProgress], None] | None = None,
    progress_every: int = PROGRESS_EVERY,
) -> ImportSummary:
    """Store and process every event of a JSONL file in Stripe time order.

    An event already in the inbox is a duplicate and is left as it is (replay
    failed ones with `reprocess_stripe_events --failed`); one stored but never
    processed (`received`) is processed now. A bad line is counted as invalid
    with its number and never stops the import. The outcome of a new event is
    its status at the end of the import, so an event that waited and was woken
    by a later one counts as new.

    Writes what the webhook writes for each event (inbox rows, ledger,
    subscriptions, audit rows), then one `stripe_events.imported` audit row with
    the summary, which names the business days touched (the snapshots of those
    days are stale until rebuilt: `analyticsapp.services.history`).
    """
    began = time.monotonic()
    summary = ImportSummary(file_name=file_name)
    queued = _read(lines, summary)
    meter = ProgressMeter(
        progress, stage="events", unit="events", total=len(queued), every=progress_every
    )
    events_feed(queued, summary, advance=meter.advance)
    summary.seconds = time.monotonic() - began
    audit_record(
        event_type="stripe_events.imported",
        actor_label=actor_label,
        metadata=summary.as_metadata(),
    )
    return summary
