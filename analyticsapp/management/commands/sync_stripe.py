import datetime as dt
import getpass

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from analyticsapp.services.history import stripe_catch_up_and_rebuild
from payments.gateway import get_gateway
from payments.services.catch_up import EVENT_WINDOW


# Here, not in payments: the catch-up is followed by a snapshot rebuild.
class Command(BaseCommand):
    help = (
        "Ask Stripe for its events since a day (at most its 30-day event window) "
        "and apply those the webhook never delivered; then rebuild the days they "
        "touched. Without --since: from where the hourly catch-up left off."
    )

    def add_arguments(self, parser):
        parser.add_argument("--since", metavar="YYYY-MM-DD", help="UTC day")

    def handle(self, *args, since, **options):
        if not settings.PAYMENTS_USE_STRIPE:
            raise CommandError(
                "Stripe is not configured (PAYMENTS_USE_STRIPE=0): nothing to ask"
            )
        start = None
        if since:
            try:
                day = dt.date.fromisoformat(since)
            except ValueError as exc:
                raise CommandError(
                    f"--since {since!r} is not a date (YYYY-MM-DD)"
                ) from exc
            start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
            if start < timezone.now() - EVENT_WINDOW:
                self.stderr.write(
                    "Stripe lists events of the last 30 days only: from "
                    f"{(timezone.now() - EVENT_WINDOW).date()}; for older history "
                    "run `import_stripe_history --api --since DAY`"
                )
        caught, rebuilt = stripe_catch_up_and_rebuild(
            gateway=get_gateway(), actor_label=f"cli:{getpass.getuser()}", since=start
        )
        totals = caught.summary.totals
        self.stdout.write(
            self.style.SUCCESS(
                f"caught up since {caught.since:%Y-%m-%d %H:%M} UTC: {caught.listed} "
                f"event(s) listed, {totals['new']} applied that the webhook missed, "
                f"{totals['duplicate']} already received"
                + (f"; snapshots rebuilt {rebuilt[0]}..{rebuilt[1]}" if rebuilt else "")
            )
        )
