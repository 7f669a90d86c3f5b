import getpass
import logging
from contextlib import contextmanager
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from analyticsapp.services.history import HistoryImport, stripe_history_import
from payments.services.importing import OUTCOMES, ImportProgress

COLUMNS = (*OUTCOMES, "total")


@contextmanager
def _quiet(logger_name: str, level: int):
    """One log line per event drowns the progress lines; failures still log."""
    logger = logging.getLogger(logger_name)
    previous = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(previous)


# Here, not in payments: the import is followed by a snapshot rebuild, and
# payments may not import analyticsapp (ARCHITECTURE.md).
class Command(BaseCommand):
    help = (
        "Import a JSONL file of Stripe events (Events API / `stripe events list`) "
        "through the webhook pipeline, ask Stripe for their balance transactions, "
        "then rebuild the snapshots it touched."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="JSONL: one event, or one list page, a line")
        parser.add_argument(
            "--no-rebuild",
            action="store_true",
            help="skip the snapshot rebuild (run build_analytics_snapshots later)",
        )
        parser.add_argument(
            "--no-settlement",
            action="store_true",
            help="do not ask Stripe for the balance transactions now (the settlement "
            "sync asks every 5 minutes; rebuild the snapshots after it)",
        )

    def handle(self, *args, file, no_rebuild, no_settlement, verbosity, **options):
        path = Path(file)
        try:
            stream = path.open(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror or exc}") from exc
        level = logging.INFO if verbosity > 1 else logging.WARNING
        with stream, _quiet("payments.webhook", level):
            try:
                done = stripe_history_import(
                    lines=stream,
                    actor_label=f"cli:{getpass.getuser()}",
                    file_name=path.name,
                    rebuild=not no_rebuild,
                    settle=not no_settlement,
                    progress=self._progress,
                )
            except UnicodeDecodeError as exc:
                raise CommandError(
                    f"{file} is not UTF-8 text ({exc.reason}); nothing was imported"
                ) from exc
        self._report(done)
        failed = done.summary.totals["failed"]
        if failed:
            raise CommandError(
                f"{failed} event(s) failed: see their errors at "
                "/ops/payments/events/?status=failed, fix the cause, then run "
                "`manage.py reprocess_stripe_events --failed`"
            )

    def _progress(self, p: ImportProgress) -> None:
        progress_line(self, p)

    def _report(self, done: HistoryImport) -> None:
        report_events(self, done)
        summary = done.summary
        self.stdout.write(
            self.style.SUCCESS(
                f"imported {summary.file_name}: {summary.lines} line(s), "
                f"{summary.events} event(s), {summary.totals['new']} new, "
                f"{summary.totals['duplicate']} duplicate(s) in {summary.seconds:.1f}s"
            )
        )


def progress_line(command: BaseCommand, p: ImportProgress) -> None:
    """One progress line: done of total (when known), rate and ETA."""
    if p.total:
        where = f"{p.done}/{p.total} {p.unit} ({p.done * 100 // p.total}%)"
        eta = f", ETA {p.eta_seconds:.0f}s"
    else:
        where, eta = f"{p.done} {p.unit}", ""
    command.stdout.write(f"  {p.stage}: {where}, {p.rate:.0f} {p.unit}/s{eta}")


def report_events(command: BaseCommand, done: HistoryImport) -> None:
    """The events table, invalid lines, settlement and rebuild of an import."""
    summary = done.summary
    width = max([len("event type"), *map(len, summary.by_type)])
    header = f"{'event type':<{width}}" + "".join(f"{c:>10}" for c in COLUMNS)
    command.stdout.write(header)
    command.stdout.write("-" * len(header))
    for event_type, counts in sorted(summary.by_type.items()):
        cells = [counts[o] for o in OUTCOMES] + [sum(counts.values())]
        command.stdout.write(
            f"{event_type:<{width}}" + "".join(f"{c:>10}" for c in cells)
        )
    totals = summary.totals
    cells = [totals[o] for o in OUTCOMES] + [summary.events]
    command.stdout.write("-" * len(header))
    command.stdout.write(f"{'all':<{width}}" + "".join(f"{c:>10}" for c in cells))
    if summary.invalid_count:
        shown = ", ".join(f"{i.line} ({i.reason})" for i in summary.invalid[:10])
        more = summary.invalid_count - min(len(summary.invalid), 10)
        command.stderr.write(
            f"{summary.invalid_count} invalid line(s) skipped: {shown}"
            + (f" and {more} more" if more > 0 else "")
        )
    if done.settled is not None:
        settled = done.settled
        command.stdout.write(
            f"balance transactions: {settled['recorded']} recorded, "
            f"{settled['lines']} payout line(s) from {settled['payouts_listed']} "
            f"payout(s), {settled['still_missing']} not at Stripe yet, "
            f"{settled['errors']} Stripe error(s) (asked again every 5 minutes)"
        )
    if done.rebuilt_from:
        command.stdout.write(
            f"snapshots rebuilt {done.rebuilt_from}..{done.rebuilt_to} "
            f"({done.rebuilt_days} days)"
        )
