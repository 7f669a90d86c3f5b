"""A merchant's Stripe history imported, then its balance transactions asked of
Stripe, then the snapshots of the days it touched.

Importing is payments' (`payments.services.importing.events_import`); the
snapshots are analytics', so the rebuild that follows an import lives here and
payments never imports analyticsapp (ARCHITECTURE.md: imports point down).
"""

import datetime as dt
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from django.db import transaction
from django.db.models import Max

from analyticsapp.models import DailySnapshot, MrrDailySnapshot
from analyticsapp.services.snapshots import snapshots_build, warm_dashboards
from payments.services.backfill import BackfillSummary, history_backfill
from payments.services.catch_up import CatchUp, stripe_catch_up
from payments.services.importing import (
    PROGRESS_EVERY,
    ImportProgress,
    ImportSummary,
    ProgressMeter,
    events_import,
)
from payments.services.settlement_sync import settlement_sync

SNAPSHOT_CHUNK_DAYS = 31


@dataclass(frozen=True)
class HistoryImport:
    """An import's summary and the snapshot days rebuilt after it (None: none)."""

    summary: ImportSummary
    rebuilt_from: dt.date | None = None
    rebuilt_to: dt.date | None = None
    settled: dict | None = None  # settlement_sync's counts, summed over its rounds
    backfill: BackfillSummary | None = None  # an object-list import's

    @property
    def rebuilt_days(self) -> int:
        if self.rebuilt_from is None or self.rebuilt_to is None:
            return 0
        return (self.rebuilt_to - self.rebuilt_from).days + 1


def stripe_history_import(
    *,
    lines: Iterable[str],
    actor_label: str,
    file_name: str = "",
    rebuild: bool = True,
    settle: bool = True,
    progress: Callable[[ImportProgress], None] | None = None,
    progress_every: int = PROGRESS_EVERY,
) -> HistoryImport:
    """Import a JSONL file of Stripe events, ask Stripe for the balance transactions
    they name, then rebuild the snapshots it touched.

    Writes what `events_import` writes (inbox, ledger, its audit row); then, unless
    `settle` is false, what `settlement_sync` writes (outside any transaction: it
    calls Stripe); then, unless `rebuild` is false and if anything new was stored,
    what `snapshots_rebuild_touched` writes, so the fees are in the snapshots.
    """
    summary = events_import(
        lines=lines,
        actor_label=actor_label,
        file_name=file_name,
        progress=progress,
        progress_every=progress_every,
    )
    return _settle_and_rebuild(
        HistoryImport(summary=summary),
        settle=settle,
        rebuild=rebuild,
        triggered_by=f"import_stripe_events:{actor_label}",
        progress=progress,
    )


def _settle_and_rebuild(
    done: HistoryImport, *, settle: bool, rebuild: bool, triggered_by: str, progress
) -> HistoryImport:
    """After an import: ask Stripe for the balance transactions still missing
    (unless `settle` is false), then rebuild the snapshots of the days the import
    touched (unless `rebuild` is false or it touched none). Returns `done` with
    what was settled and rebuilt."""
    summary = done.summary
    settled = settlement_until_done(progress=progress) if settle else None
    if not rebuild or summary.touched_from is None:
        return replace(done, settled=settled)
    rebuilt_from, rebuilt_to = snapshots_rebuild_touched(
        date_from=summary.touched_from,
        date_to=summary.touched_to,
        triggered_by=triggered_by[:254],
        progress=progress,
    )
    return replace(
        done, settled=settled, rebuilt_from=rebuilt_from, rebuilt_to=rebuilt_to
    )


def stripe_objects_import(
    *,
    source,
    actor_label: str,
    restart: bool = False,
    rebuild: bool = True,
    settle: bool = True,
    progress: Callable[[ImportProgress], None] | None = None,
    stop_after_pages: int | None = None,
) -> HistoryImport:
    """Backfill a merchant's Stripe history from its object lists (the API or an
    export directory: `payments.services.backfill`), ask Stripe for the balance
    transactions still missing, then rebuild the snapshots of the days touched,
    once, at the end. A run stopped early (`stop_after_pages`) rebuilds nothing:
    the run that finishes it does.

    Writes what `history_backfill` writes, then what `settlement_sync` and
    `snapshots_rebuild_touched` write (unless `settle` / `rebuild` are false).
    """
    backfill = history_backfill(
        source,
        actor_label=actor_label,
        restart=restart,
        progress=progress,
        stop_after_pages=stop_after_pages,
    )
    summary = backfill.events
    if not backfill.finished:
        return HistoryImport(summary=summary, backfill=backfill)
    return _settle_and_rebuild(
        HistoryImport(summary=summary, backfill=backfill),
        settle=settle,
        rebuild=rebuild,
        triggered_by=f"import_stripe_history:{actor_label}",
        progress=progress,
    )


def stripe_catch_up_and_rebuild(
    *, gateway, actor_label: str, since: dt.datetime | None = None
) -> tuple[CatchUp, tuple[dt.date, dt.date] | None]:
    """The events the inbox missed, asked of Stripe and applied
    (`payments.services.catch_up`), then the snapshots of the days they touched
    rebuilt. Returns the catch-up and the days rebuilt (None: nothing was new)."""
    caught = stripe_catch_up(gateway=gateway, actor_label=actor_label, since=since)
    if caught.summary.totals["new"] == 0 or caught.summary.touched_from is None:
        return caught, None
    rebuilt = snapshots_rebuild_touched(
        date_from=caught.summary.touched_from,
        date_to=caught.summary.touched_to,
        triggered_by=f"stripe_catch_up:{actor_label}"[:254],
    )
    return caught, rebuilt


def settlement_until_done(
    *, progress: Callable[[ImportProgress], None] | None = None
) -> dict[str, int]:
    """`settlement_sync` in rounds (each asks for at most its limit of each kind)
    until a round records nothing: every balance transaction and payout line Stripe
    has for the history, with progress per round. Returns the counts summed, but
    `still_missing`, which is the last round's."""
    totals = {"payouts_listed": 0, "lines": 0, "recorded": 0, "errors": 0}
    for round_number in itertools.count(1):
        report = _round_reporter(progress, round_number) if progress else None
        counts = settlement_sync(progress=report)
        for key in totals:
            totals[key] += counts[key]
        if counts["recorded"] == 0 and counts["lines"] == 0:
            return {**totals, "still_missing": counts["still_missing"]}
    raise AssertionError("unreachable")


def _round_reporter(progress, round_number: int):
    """settlement_sync's (stage, done, total) calls as ImportProgress lines; the
    meter is made at the round's first ask, which knows the total."""
    meter = None

    def report(stage, done, total):
        nonlocal meter
        if meter is None:
            meter = ProgressMeter(
                progress,
                stage=f"balance transactions (round {round_number})",
                unit="asks",
                total=total,
                every=PROGRESS_EVERY // 10,
            )
        meter.advance()

    return report


def snapshots_rebuild_touched(
    *,
    date_from: dt.date,
    date_to: dt.date,
    triggered_by: str,
    progress: Callable[[ImportProgress], None] | None = None,
) -> tuple[dt.date, dt.date]:
    """Rebuild the snapshots from `date_from` to `date_to`, or to the last day
    already built if later: a backdated payment changes later days too (returning
    customers, lifetime orders, MRR carried forward). Returns the range rebuilt.

    Writes the snapshots in 31-day chunks, each its own transaction, SnapshotRun
    and audit row (`snapshots_build`); reports progress after each chunk.
    """
    built = [
        model.objects.aggregate(last=Max("day"))["last"]
        for model in (DailySnapshot, MrrDailySnapshot)
    ]
    date_to = max([date_to, *(day for day in built if day is not None)])
    meter = ProgressMeter(
        progress,
        stage="snapshots",
        unit="days",
        total=(date_to - date_from).days + 1,
        every=SNAPSHOT_CHUNK_DAYS,
    )
    chunk_from = date_from
    while chunk_from <= date_to:
        chunk_to = min(chunk_from + dt.timedelta(days=SNAPSHOT_CHUNK_DAYS - 1), date_to)
        snapshots_build(
            date_from=chunk_from,
            date_to=chunk_to,
            triggered_by=triggered_by,
            warm=False,  # once, after the last chunk
        )
        meter.advance((chunk_to - chunk_from).days + 1)
        chunk_from = chunk_to + dt.timedelta(days=1)
    transaction.on_commit(warm_dashboards)
    return date_from, date_to
