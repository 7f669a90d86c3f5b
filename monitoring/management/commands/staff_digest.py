from django.core.management.base import BaseCommand

from monitoring.tasks import staff_digest_task


class Command(BaseCommand):
    help = (
        "Email every admin the critical and high issues still open (the daily "
        "digest), now; once a day per admin, so a second run sends nothing."
    )

    def handle(self, *args, **options):
        counts = staff_digest_task.apply().get()
        if counts is None:
            self.stdout.write("the digest is being sent already")
        else:
            self.stdout.write(f"digest: {counts['messages']} message(s) recorded")
