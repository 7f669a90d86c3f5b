"""The cron entry points take the same job locks as the Celery tasks."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from core.tests.locks import job_lock_held_elsewhere

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    ("job", "command", "args", "message"),
    [
        (
            "nightly_snapshots",
            "build_analytics_snapshots",
            ["--days", "2"],
            "snapshot build",
        ),
        ("run_checks", "run_checks", [], "checks are running"),
        ("expire_reservations", "expire_reservations", [], "expiry sweep"),
        (
            "reprocess_stripe_events",
            "reprocess_stripe_events",
            ["--failed"],
            "reprocessing",
        ),
    ],
)
def test_a_command_refuses_while_its_job_runs_elsewhere(job, command, args, message):
    with job_lock_held_elsewhere(job), pytest.raises(CommandError, match=message):
        call_command(command, *args)
    call_command(command, *args)  # free again
