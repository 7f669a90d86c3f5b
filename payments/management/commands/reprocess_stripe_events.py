import getpass

from django.core.management.base import BaseCommand, CommandError

from core.locks import job_lock
from payments.models import StripeEvent
from payments.services.reprocess import QUEUED_GRACE, events_reprocess


class Command(BaseCommand):
    help = (
        "Process stored Stripe events again: failed, pending, stuck (queued and "
        "never applied), or one by id. Needs no Celery broker."
    )

    def add_arguments(self, parser):
        parser.add_argument("--failed", action="store_true")
        parser.add_argument("--pending", action="store_true")
        parser.add_argument(
            "--stuck",
            action="store_true",
            help=(
                f"events left received for more than "
                f"{int(QUEUED_GRACE.total_seconds() // 60)} minutes"
            ),
        )
        parser.add_argument(
            "--id", dest="event_id", default="", help="an event id (evt_…)"
        )

    def handle(self, *args, failed, pending, stuck, event_id, **options):
        if not (failed or pending or stuck or event_id):
            raise CommandError(
                "say which events: --failed, --pending, --stuck or --id EVT"
            )
        if event_id and (failed or pending or stuck):
            raise CommandError(
                "--id names one event: leave out --failed, --pending and --stuck"
            )
        if event_id and not StripeEvent.objects.filter(event_id=event_id).exists():
            raise CommandError(f"no stored event {event_id}")
        # The scheduled job's lock: cron and Celery never replay at the same time.
        with job_lock("reprocess_stripe_events") as acquired:
            if not acquired:
                raise CommandError("a reprocessing run is in progress; try again later")
            outcome = events_reprocess(
                failed=failed,
                pending=pending,
                stuck=stuck,
                event_id=event_id,
                actor_label=f"cli:{getpass.getuser()}",
            )
        if not outcome:
            self.stdout.write("nothing to reprocess")
        for status, count in sorted(outcome.items()):
            self.stdout.write(f"{count} event(s) now {status}")
