import getpass

from django.core.management.base import BaseCommand, CommandError

from core.locks import job_lock
from monitoring.checks import ATTENTION, INTEGRITY, REGISTRY
from monitoring.models import DataQualityIssue
from monitoring.services import OPEN_STATES, checks_run, open_counts

USAGE_ERROR = 2  # a mistake on the command line, not a finding


class Command(BaseCommand):
    help = (
        "Run the data-quality checks. --fail-on-issues exits 1 while an integrity "
        "issue is open; --strict also while an attention item is."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        """A mistake on the command line is one line and exit 2, not a usage dump."""
        parser = super().create_parser(prog_name, subcommand, **kwargs)

        def error(message):
            message = f"{message} (see manage.py run_checks --help)"
            if parser.called_from_command_line:
                parser.exit(USAGE_ERROR, f"run_checks: {message}\n")
            raise CommandError(message, returncode=USAGE_ERROR)

        parser.error = error
        return parser

    def add_arguments(self, parser):
        parser.add_argument(
            "--check",
            action="append",
            dest="checks",
            help="only this check (repeatable)",
        )
        parser.add_argument(
            "--fail-on-issues",
            action="store_true",
            help="exit 1 while an integrity issue is open (the release gate)",
        )
        parser.add_argument(
            "--strict",
            action="store_true",
            help="with --fail-on-issues: attention items (disputes to answer, "
            "stale pending orders) fail too",
        )

    def handle(self, *args, checks, fail_on_issues, strict, **options):
        if strict and not fail_on_issues:
            raise CommandError(
                "--strict only changes --fail-on-issues; give both",
                returncode=USAGE_ERROR,
            )
        unknown = sorted(set(checks or []) - set(REGISTRY))
        if unknown:
            raise CommandError(
                f"unknown check(s): {', '.join(unknown)}; known checks: "
                f"{', '.join(REGISTRY)}",
                returncode=USAGE_ERROR,
            )
        with job_lock("run_checks") as acquired:
            if not acquired:
                raise CommandError("the checks are running already; try again later")
            result = checks_run(only=checks, actor_label=f"cli:{getpass.getuser()}")
        names = checks or list(REGISTRY)
        counts = open_counts(names)
        width = max(len(n) for n in names)
        self.stdout.write(f"{'check':<{width}}  {'kind':<9}  severity  open")
        for name in names:
            check = REGISTRY[name]
            self.stdout.write(
                f"{name:<{width}}  {check.kind:<9}  {check.severity:<8}  "
                f"{counts[check.kind].get(name, 0)}"
            )
        integrity = sum(counts[INTEGRITY].values())
        attention = sum(counts[ATTENTION].values())
        self.stdout.write(
            f"opened {result.opened}, reopened {result.reopened}, "
            f"resolved {result.resolved}; {integrity} integrity issue(s) open, "
            f"{attention} attention item(s) open"
        )
        open_issues = DataQualityIssue.objects.filter(
            status__in=OPEN_STATES, check_name__in=names
        ).order_by("check_name", "fingerprint")
        for issue in open_issues[:50]:
            kind = REGISTRY[issue.check_name].kind
            self.stdout.write(
                f"  [{issue.severity}] {kind} {issue.check_name}: {issue.message}"
            )
        if fail_on_issues and integrity:
            raise CommandError(f"{integrity} integrity issue(s) open")
        if fail_on_issues and strict and attention:
            raise CommandError(f"{attention} attention item(s) open (--strict)")
