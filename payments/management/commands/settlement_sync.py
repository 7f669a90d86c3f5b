"""Ask Stripe for missing balance transactions and the lines of paid payouts."""

import time

from django.core.management.base import BaseCommand, CommandError

from payments.services.settlement_sync import settlement_run


class Command(BaseCommand):
    help = (
        "Fetch every missing balance transaction and the lines of every paid payout "
        "from Stripe (offline: make the daily payouts first); safe to re-run."
    )

    def handle(self, *args, **options):
        start = time.monotonic()

        def progress(kind, done, total):
            if done == total or done % 100 == 0:
                rate = done / max(time.monotonic() - start, 1e-6)
                eta = (total - done) / rate if rate else 0
                self.stderr.write(
                    f"  {kind}: {done}/{total} ({rate:.0f}/s, ETA {eta:.0f}s)"
                )

        try:
            counts = settlement_run(progress=progress)
        except Exception as exc:  # Stripe unreachable, bad key: one line
            raise CommandError(
                f"settlement sync failed: {type(exc).__name__}: {exc}"
            ) from None
        self.stdout.write(
            "settlement sync: "
            + ", ".join(f"{name.replace('_', ' ')} {n}" for name, n in counts.items())
        )
