import sys
import types
from dataclasses import dataclass

import pytest

from audit.models import AuditLog
from core.tests.locks import job_lock_held_elsewhere
from monitoring.tasks import run_checks_task

pytestmark = pytest.mark.django_db


@dataclass
class _Result:
    opened: int
    resolved: int
    open_total: int


@pytest.fixture
def checks_run(monkeypatch):
    """Stands in for monitoring.services.checks_run; records its calls."""
    calls = []

    def fake(**kwargs):
        calls.append(kwargs)
        return _Result(opened=2, resolved=1, open_total=3)

    module = types.ModuleType("monitoring.services")
    module.checks_run = fake
    monkeypatch.setitem(sys.modules, "monitoring.services", module)
    return calls


def test_run_checks_task_runs_the_checks_and_audits_the_counts(checks_run):
    counts = run_checks_task.apply().get()

    assert checks_run == [{"actor_label": "celery:run_checks"}]
    assert counts == {"opened": 2, "resolved": 1, "open_total": 3}
    job = AuditLog.objects.get(event_type="job.run_checks")
    assert job.actor_label == "celery:run_checks"
    assert job.metadata == {"outcome": "ran", **counts}


def test_run_checks_task_skips_while_another_run_holds_the_lock(checks_run):
    with job_lock_held_elsewhere("run_checks"):
        assert run_checks_task.apply().get() is None

    assert checks_run == []
    job = AuditLog.objects.get(event_type="job.run_checks")
    assert job.metadata == {"outcome": "skipped"}


def test_run_checks_task_audits_a_failure_and_reraises(monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("check exploded")

    module = types.ModuleType("monitoring.services")
    module.checks_run = broken
    monkeypatch.setitem(sys.modules, "monitoring.services", module)

    with pytest.raises(RuntimeError, match="check exploded"):
        run_checks_task.apply().get()

    job = AuditLog.objects.get(event_type="job.run_checks")
    assert job.metadata == {
        "outcome": "failed",
        "error": "RuntimeError: check exploded",
    }
