import datetime as dt
import getpass
import logging

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from analyticsapp.management.commands.import_stripe_events import (
    _quiet,
    progress_line,
    report_events,
)
from analyticsapp.services.history import HistoryImport, stripe_objects_import
from payments.gateway import get_gateway
from payments.services.backfill import (
    ApiSource,
    BackfillError,
    DirSource,
    since_timestamp,
)


# Here, not in payments: the backfill is followed by a snapshot rebuild, and
# payments may not import analyticsapp (ARCHITECTURE.md).
class Command(BaseCommand):
    help = (
        "Backfill a merchant's whole Stripe history from Stripe's object lists "
        "(charges, refunds, disputes, payouts, subscriptions, invoices, …): from "
        "the API (the default when Stripe is configured) or from a directory of "
        "JSON-lines exports; resumable; then the snapshots of the days touched."
    )

    def add_arguments(self, parser):
        source = parser.add_mutually_exclusive_group()
        source.add_argument(
            "--api", action="store_true", help="list the objects from Stripe's API"
        )
        source.add_argument(
            "--from-dir",
            metavar="DIR",
            help="charges.jsonl, refunds.jsonl, …: an object a line, any may be absent",
        )
        parser.add_argument(
            "--since",
            metavar="YYYY-MM-DD",
            help="with --api: only objects made on or after this day (UTC)",
        )
        parser.add_argument(
            "--restart",
            action="store_true",
            help="read every list from its start, not from the last checkpoint",
        )
        parser.add_argument("--no-rebuild", action="store_true")
        parser.add_argument("--no-settlement", action="store_true")

    def handle(self, *args, **options):
        source = self._source(options)
        level = logging.INFO if options["verbosity"] > 1 else logging.WARNING
        with _quiet("payments.webhook", level):
            done = stripe_objects_import(
                source=source,
                actor_label=f"cli:{getpass.getuser()}",
                restart=options["restart"],
                rebuild=not options["no_rebuild"],
                settle=not options["no_settlement"],
                progress=lambda p: progress_line(self, p),
            )
        self._report(done)

    def _source(self, options):
        if options["since"] and options["from_dir"]:
            raise CommandError("--since applies to --api only")
        if options["from_dir"]:
            try:
                return DirSource(options["from_dir"])
            except BackfillError as exc:
                raise CommandError(str(exc)) from exc
        if not settings.PAYMENTS_USE_STRIPE:
            raise CommandError(
                "Stripe is not configured (PAYMENTS_USE_STRIPE=0): give --from-dir DIR"
            )
        since = None
        if options["since"]:
            try:
                since = since_timestamp(dt.date.fromisoformat(options["since"]))
            except ValueError as exc:
                raise CommandError(
                    f"--since {options['since']!r} is not a date (YYYY-MM-DD)"
                ) from exc
        return ApiSource(get_gateway(), since=since)

    def _report(self, done: HistoryImport) -> None:
        backfill = done.backfill
        for resource, count in backfill.objects.items():
            resumed = backfill.resumed.get(resource)
            self.stdout.write(
                f"{resource}: {count} object(s)"
                + (f" (resumed after {resumed})" if resumed else "")
            )
        report_events(self, done)
        if backfill.invalid:
            self.stderr.write(
                f"{len(backfill.invalid)} object(s) skipped: "
                + "; ".join(backfill.invalid[:5])
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"backfilled {backfill.source}: {sum(backfill.objects.values())} "
                f"object(s), {done.summary.totals['new']} new event(s), "
                f"{backfill.balance_transactions} balance transaction(s) "
                f"in {backfill.seconds:.1f}s"
            )
        )
