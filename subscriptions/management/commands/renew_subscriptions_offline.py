import argparse
import datetime as dt
import getpass

from django.core.management.base import BaseCommand, CommandError

from core.exceptions import DomainError
from core.locks import job_lock
from core.timeutils import day_bounds_utc
from subscriptions.billing import subscriptions_renew_offline


def _day(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"not a date like 2026-03-31: {value}"
        ) from exc


class Command(BaseCommand):
    help = (
        "Offline payments only: renew (or end, if set to cancel) every offline "
        "subscription whose period ended by --at (default: now)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--at",
            type=_day,
            help="YYYY-MM-DD: periods ending by the end of that day (never past now)",
        )

    def handle(self, *args, at, **options):
        until = day_bounds_utc(at)[1] if at else None
        with job_lock("renew_subscriptions_offline") as acquired:
            if not acquired:
                raise CommandError("a renewal run is in progress; try again later")
            try:
                run = subscriptions_renew_offline(
                    at=until,
                    actor_label=f"cli:{getpass.getuser()}",
                    progress=lambda line: self.stdout.write(f"  {line}"),
                )
            except DomainError as exc:
                raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"{run.subscriptions} subscription(s) due by {run.at:%Y-%m-%d %H:%M} UTC: "
            f"{run.renewals} renewal(s), {run.ended} ended"
        )
