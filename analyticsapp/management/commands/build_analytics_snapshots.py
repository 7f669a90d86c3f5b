import datetime as dt
import getpass
import time

from django.core.management.base import BaseCommand, CommandError

from analyticsapp.kpis import default_as_of
from analyticsapp.services.snapshots import history_bounds, snapshots_build
from core.locks import job_lock

CHUNK_DAYS = 31


class Command(BaseCommand):
    help = "Rebuild daily analytics snapshots for a range of business days (audited)."

    def add_arguments(self, parser):
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--days", type=int, help="the last N complete days")
        group.add_argument("--full", action="store_true", help="all of history")
        parser.add_argument("--from", dest="date_from", help="YYYY-MM-DD")
        parser.add_argument("--to", dest="date_to", help="YYYY-MM-DD")

    def handle(self, *args, **options):
        # The same lock as the nightly Celery job: cron and Celery never overlap.
        with job_lock("nightly_snapshots") as acquired:
            if not acquired:
                raise CommandError("another snapshot build is running; try again later")
            self._build(**options)

    def _build(self, *, days, full, date_from, date_to, **options):
        start, end = self._range(days, full, date_from, date_to)
        if start is None:
            self.stdout.write(
                "nothing to build: no payments, refunds or wishlist adds yet"
            )
            return
        total = (end - start).days + 1
        built = restated = 0
        began = time.monotonic()
        chunk_start = start
        while chunk_start <= end:
            chunk_end = min(chunk_start + dt.timedelta(days=CHUNK_DAYS - 1), end)
            run = snapshots_build(
                date_from=chunk_start,
                date_to=chunk_end,
                triggered_by=f"cli:{getpass.getuser()}",
            )
            built += run.days_built
            restated += run.restated_days
            elapsed = time.monotonic() - began
            rate = built / elapsed if elapsed else 0
            eta = (total - built) / rate if rate else 0
            self.stdout.write(
                f"  {chunk_start}..{chunk_end}: {built}/{total} days, "
                f"{rate:.0f} days/s, ETA {eta:.0f}s"
            )
            chunk_start = chunk_end + dt.timedelta(days=1)
        self.stdout.write(
            self.style.SUCCESS(
                f"built {built} day(s) {start}..{end}; {restated} day(s) restated"
            )
        )

    def _range(self, days, full, date_from, date_to):
        if full:
            bounds = history_bounds()
            return bounds if bounds else (None, None)
        if date_from or date_to:
            if not (date_from and date_to):
                raise CommandError("--from and --to go together")
            try:
                start, end = (
                    dt.date.fromisoformat(date_from),
                    dt.date.fromisoformat(date_to),
                )
            except ValueError as exc:
                raise CommandError(f"dates are YYYY-MM-DD: {exc}") from exc
            if end < start:
                raise CommandError("--to is before --from")
            return start, end
        days = 7 if days is None else days
        if days < 1:
            raise CommandError("--days must be at least 1")
        end = default_as_of()
        return end - dt.timedelta(days=days - 1), end
