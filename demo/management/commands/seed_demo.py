from django.core.management.base import BaseCommand, CommandError

from demo.seeding import DEMO_LOGINS, DEMO_PASSWORD, seed_demo


class Command(BaseCommand):
    help = "Seed a realistic demo shop through the real services (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--seed", type=int, default=42, help="random seed (deterministic)"
        )
        parser.add_argument("--customers", type=int, default=60)

    def handle(self, *args, seed, customers, **options):
        if customers < 0:
            raise CommandError("--customers must be zero or more")
        report = seed_demo(seed=seed, customers=customers)
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
