import logging

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from accounts.two_factor import recovery_codes_ensure
from demo.seeding import DEMO_LOGINS, DEMO_PASSWORD, seed_demo


class Command(BaseCommand):
    help = "Seed a realistic demo shop through the real services (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="seed even with DEBUG off (a public demo deployment only)",
        )
        parser.add_argument(
            "--seed", type=int, default=42, help="random seed (deterministic)"
        )
        parser.add_argument("--customers", type=int, default=60)
        parser.add_argument(
            "--days",
            type=int,
            default=90,
            help="days of order history, paid through the offline Stripe pipeline",
        )

    def handle(self, *args, seed, customers, days, allow_production, **options):
        if not settings.DEMO_COMMANDS_ALLOWED and not allow_production:
            raise CommandError(
                "seed_demo makes demo accounts with public passwords: refused with "
                "DEBUG off (a production settings module); add --allow-production "
                "for a demo deployment"
            )
        if customers < 0 or days < 0:
            raise CommandError("--customers and --days must be zero or more")
        # One log line per webhook event would bury the summary.
        webhook_log = logging.getLogger("payments.webhook")
        level = webhook_log.level
        webhook_log.setLevel(logging.WARNING)
        try:
            report = seed_demo(
                seed=seed, customers=customers, days=days, out=self.stdout.write
            )
        finally:
            webhook_log.setLevel(level)
        if report.created:
            for what, n in report.created.items():
                self.stdout.write(f"  created {n} {what}")
        else:
            self.stdout.write("  already seeded: nothing to add")
        self.stdout.write(
            self.style.SUCCESS(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        )
        for email, _name, role in DEMO_LOGINS:
            self.stdout.write(f"  {role:<9} {email}")
        required = settings.TWO_FACTOR_REQUIRED_ROLES
        for email, _name, role in DEMO_LOGINS:
            if role in required:
                codes = recovery_codes_ensure(User.objects.get(email=email))
                self.stdout.write(
                    f"  {email} also needs a second factor: set up an authenticator "
                    f"app, or use a recovery code (each works once): "
                    f"{', '.join(codes[:3])}"
                )
