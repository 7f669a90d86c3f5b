import getpass

from django.core.management.base import BaseCommand, CommandError

from core.locks import job_lock
from monitoring.checks import REGISTRY
from monitoring.models import DataQualityIssue
from monitoring.services import OPEN_STATES, checks_run


class Command(BaseCommand):
    help = "Run the data-quality checks; --fail-on-issues exits 1 while any is open."

    def add_arguments(self, parser):
        parser.add_argument(
            "--check",
            action="append",
            dest="checks",
            help="only this check (repeatable)",
        )
        parser.add_argument("--fail-on-issues", action="store_true")

    def handle(self, *args, checks, fail_on_issues, **options):
        try:
            with job_lock("run_checks") as acquired:
                if not acquired:
                    raise CommandError(
                        "the checks are running already; try again later"
                    )
                result = checks_run(only=checks, actor_label=f"cli:{getpass.getuser()}")
        except KeyError as exc:
            raise CommandError(
                f"{exc.args[0]}; known checks: {', '.join(REGISTRY)}"
            ) from exc
        names = checks or list(REGISTRY)
        open_issues = DataQualityIssue.objects.filter(
            status__in=OPEN_STATES, check_name__in=names
        )
        counts = {}
        for issue in open_issues:
            counts[issue.check_name] = counts.get(issue.check_name, 0) + 1
        width = max(len(n) for n in names)
        self.stdout.write(f"{'check':<{width}}  severity  open")
        for name in names:
            check = REGISTRY[name]
            self.stdout.write(
                f"{name:<{width}}  {check.severity:<8}  {counts.get(name, 0)}"
            )
        self.stdout.write(
            f"opened {result.opened}, reopened {result.reopened}, "
            f"resolved {result.resolved}; {sum(counts.values())} open"
        )
        for issue in open_issues.order_by("check_name", "fingerprint")[:50]:
            self.stdout.write(
                f"  [{issue.severity}] {issue.check_name}: {issue.message}"
            )
        if fail_on_issues and counts:
            raise CommandError(f"{sum(counts.values())} data-quality issue(s) open")
