"""Catch-up: the Stripe events the inbox never received, asked of Stripe.

Stripe retries a webhook for three days, then stops. Every hour (and on demand,
`manage.py sync_stripe`) this lists Stripe's events since the newest one known
(less an hour's overlap; with none, the last three days), at most
Stripe's 30-day event window back, and feeds them through the inbox: an event
already received is a duplicate and changes nothing, a missed one is applied as
the webhook would have applied it. Older history: `import_stripe_history --since`.
"""

import datetime as dt
import time
from dataclasses import dataclass

from django.db.models import Max
from django.utils import timezone

from audit.services import audit_record
from payments.models import HistoryCheckpoint, StripeEvent
from payments.services.backfill import HISTORY_EVENT_PREFIX
from payments.services.importing import ImportSummary, events_feed, queued_event
from payments.webhook import BadEvent

SOURCE, RESOURCE = "catch-up", "events"  # its HistoryCheckpoint: the newest time
EVENT_WINDOW = dt.timedelta(days=30)  # what Stripe's Events API still lists
FIRST_LOOK_BACK = dt.timedelta(days=3)  # Stripe's own retries cover no more
OVERLAP = dt.timedelta(hours=1)  # events are listed by `created`, not by arrival


@dataclass(frozen=True)
class CatchUp:
    since: dt.datetime
    listed: int
    summary: ImportSummary
    newest: int | None  # the newest event's Stripe time seen


def catch_up_since(now: dt.datetime | None = None) -> dt.datetime:
    """Where the next catch-up starts: an hour before the newest event known (the
    last catch-up's newest, or the inbox's newest from Stripe; with neither,
    three days back), never past the event window."""
    now = now or timezone.now()
    known = []
    checkpoint = HistoryCheckpoint.objects.filter(
        source=SOURCE, resource=RESOURCE
    ).first()
    if checkpoint is not None and checkpoint.cursor.isdigit():
        known.append(dt.datetime.fromtimestamp(int(checkpoint.cursor), tz=dt.UTC))
    newest = StripeEvent.objects.exclude(
        event_id__startswith=HISTORY_EVENT_PREFIX
    ).aggregate(newest=Max("stripe_created"))["newest"]
    if newest is not None:
        known.append(newest)
    since = max(known) - OVERLAP if known else now - FIRST_LOOK_BACK
    return max(since, now - EVENT_WINDOW)


def stripe_catch_up(
    *, gateway, actor_label: str, since: dt.datetime | None = None
) -> CatchUp:
    """List Stripe's events made at or after `since` (default `catch_up_since`,
    clamped to the event window) and apply the ones the inbox lacks.

    Never inside a transaction (it calls Stripe, a page at a time). Writes what
    the inbox writes for each missed event, the catch-up's checkpoint (the newest
    Stripe time seen) and one `stripe_events.caught_up` audit row."""
    now = timezone.now()
    since = max(since or catch_up_since(now), now - EVENT_WINDOW)
    summary = ImportSummary(file_name="stripe events list")
    listed, newest, cursor = 0, None, ""
    began = time.monotonic()
    while True:
        events, more = gateway.list_page(
            resource="events",
            starting_after=cursor,
            created_gte=int(since.timestamp()),
        )
        queued = []
        for event in events:
            try:
                queued.append(queued_event(event))
            except BadEvent as exc:
                summary.count_invalid(listed + 1, str(exc))
            listed += 1
        events_feed(queued, summary)
        times = [item.created for item in queued]
        if times:
            newest = max([*times, newest or 0])
        if not more or not events:
            break
        cursor = events[-1]["id"]
    summary.seconds = time.monotonic() - began
    if newest is not None:
        checkpoint, _ = HistoryCheckpoint.objects.get_or_create(
            source=SOURCE, resource=RESOURCE
        )
        if not checkpoint.cursor.isdigit() or int(checkpoint.cursor) < newest:
            checkpoint.cursor = str(newest)
        checkpoint.count += summary.totals["new"]
        checkpoint.finished_at = timezone.now()
        checkpoint.save()
    audit_record(
        event_type="stripe_events.caught_up",
        actor_label=actor_label,
        metadata={
            "since": since.isoformat(),
            "listed": listed,
            **summary.as_metadata(),
        },
    )
    return CatchUp(since=since, listed=listed, summary=summary, newest=newest)
