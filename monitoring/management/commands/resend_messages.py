import getpass

from django.core.management.base import BaseCommand, CommandError

from monitoring.services import messages_resend_run

USAGE_ERROR = 2


class Command(BaseCommand):
    help = (
        "Send again emails that failed after their retries (--failed), that never "
        "left the queue (--queued), or named ones (--id N, repeatable)."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        """A mistake on the command line is one line and exit 2, not a usage dump."""
        parser = super().create_parser(prog_name, subcommand, **kwargs)

        def error(message):
            message = f"{message} (see manage.py resend_messages --help)"
            if parser.called_from_command_line:
                parser.exit(USAGE_ERROR, f"resend_messages: {message}\n")
            raise CommandError(message, returncode=USAGE_ERROR)

        parser.error = error
        return parser

    def add_arguments(self, parser):
        parser.add_argument("--failed", action="store_true", help="every failed one")
        parser.add_argument(
            "--queued", action="store_true", help="those queued for over 30 minutes"
        )
        parser.add_argument(
            "--id", action="append", type=int, dest="ids", default=[], help="this one"
        )

    def handle(self, *args, failed, queued, ids, **options):
        if not (failed or queued or ids):
            raise CommandError(
                "say which: --failed, --queued or --id N", returncode=USAGE_ERROR
            )
        try:
            rows = messages_resend_run(
                ids=ids,
                failed=failed,
                queued=queued,
                actor_label=f"cli:{getpass.getuser()}",
            )
        except KeyError as exc:
            raise CommandError(exc.args[0], returncode=USAGE_ERROR) from None
        self.stdout.write(f"{len(rows)} message(s) queued to send again")
