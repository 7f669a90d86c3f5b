"""Scheduled jobs: one run at a time (core.locks), each outcome in the audit trail."""

from collections.abc import Callable

from audit.services import audit_record
from core.locks import job_lock


def job_run(name: str, work: Callable[[], tuple[object, dict]]):
    """Run `work` under job `name`'s lock and record the outcome.

    `work` returns (result, details). Writes a `job.<name>` audit row: outcome
    "ran" with the details, "failed" with the error (then re-raises), or
    "skipped" while another run holds the lock (returns None then).
    """
    actor = f"celery:{name}"

    def record(outcome, **details):
        audit_record(
            event_type=f"job.{name}",
            actor_label=actor,
            metadata={"outcome": outcome, **details},
        )

    with job_lock(name) as acquired:
        if not acquired:
            record("skipped")
            return None
        try:
            result, details = work()
        except Exception as exc:
            record("failed", error=f"{type(exc).__name__}: {exc}"[:500])
            raise
        record("ran", **details)
        return result
