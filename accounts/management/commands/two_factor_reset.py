import getpass

from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from accounts.two_factor import two_factor_reset


class Command(BaseCommand):
    help = (
        "Remove a user's second-factor devices (a lost phone): their next sign-in "
        "sets one up again. Audited."
    )

    def add_arguments(self, parser):
        parser.add_argument("email", help="the account's email address")

    def handle(self, *args, email, **options):
        user = User.objects.filter(email__iexact=email.strip()).first()
        if user is None:
            raise CommandError(f"no account has the email {email}")
        removed = two_factor_reset(user=user, actor_label=f"cli:{getpass.getuser()}")
        self.stdout.write(
            f"{user.email}: {removed} device(s) removed; the next sign-in sets up a "
            f"second factor again"
        )
