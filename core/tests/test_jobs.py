"""Job locks, and the scheduled jobs as they really run: two at once on
PostgreSQL, and one through a real Celery worker and Redis."""

import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from analyticsapp.models import SnapshotRun
from analyticsapp.tasks import nightly_snapshots_task
from audit.models import AuditLog
from catalog.models import StockReservation
from catalog.services.stock import stock_reserve
from catalog.tasks import expire_reservations_task
from catalog.tests.factories import VariantFactory
from core.locks import job_lock, lock_key
from core.tests.locks import job_lock_held_elsewhere

BASE_DIR = Path(__file__).resolve().parents[2]
TEST_BROKER = "redis://127.0.0.1:6379/14"
# Gossip, mingle and heartbeats only slow the start of a lone test worker.
WORKER = [
    *("celery", "-A", "purelaka", "worker", "--loglevel", "INFO"),
    *("--pool", "solo", "--concurrency", "1"),
    *("--without-gossip", "--without-mingle", "--without-heartbeat"),
]


def _try_elsewhere(name):
    """Whether another thread (another DB session) can take the lock now."""
    outcome = []

    def attempt():
        try:
            with job_lock(name) as acquired:
                outcome.append(acquired)
        finally:
            connection.close()

    thread = threading.Thread(target=attempt)
    thread.start()
    thread.join(timeout=10)
    return outcome[0]


def test_lock_keys_are_stable_across_processes_and_distinct_per_job():
    # A literal: Python's hash() would differ per process and break the lock.
    assert lock_key("nightly_snapshots") == lock_key("nightly_snapshots")
    assert lock_key("nightly_snapshots") == 5069044096842267148
    assert len({lock_key(n) for n in ("a", "b", "nightly_snapshots")}) == 3
    assert -(2**63) <= lock_key("run_checks") < 2**63


@pytest.mark.django_db
def test_a_job_lock_is_held_once_until_released():
    with job_lock("test_job") as acquired:
        assert acquired
        assert _try_elsewhere("test_job") is False
        assert _try_elsewhere("another_job") is True
    assert _try_elsewhere("test_job") is True


@pytest.mark.django_db
def test_a_job_lock_is_released_when_the_job_raises():
    with pytest.raises(RuntimeError), job_lock("test_job") as acquired:
        assert acquired
        raise RuntimeError("job failed")
    assert _try_elsewhere("test_job") is True


@pytest.mark.django_db
def test_a_lock_held_elsewhere_is_not_taken_and_not_released_by_the_loser():
    with job_lock_held_elsewhere("test_job"):
        with job_lock("test_job") as acquired:
            assert acquired is False
        assert _try_elsewhere("test_job") is False


def test_on_a_sqlite_file_the_lock_holds_against_other_processes(tmp_path):
    from core.locks import _file_lock

    path = tmp_path / "job.lock"
    other_process = [
        sys.executable,
        "-c",
        "import sys; from pathlib import Path; from core.locks import _file_lock\n"
        "with _file_lock(Path(sys.argv[1])) as acquired: print(acquired)",
        str(path),
    ]

    def other_takes_it():
        out = subprocess.run(
            other_process, cwd=BASE_DIR, capture_output=True, text=True, check=True
        )
        return out.stdout.strip()

    with _file_lock(path) as acquired:
        assert acquired
        assert other_takes_it() == "False"
    assert other_takes_it() == "True"


@pytest.mark.postgres
@pytest.mark.django_db
def test_nightly_task_skips_while_another_session_holds_its_advisory_lock():
    """Another process (a cron `build_analytics_snapshots`, a second worker) would
    hold it from its own session: here, a raw psycopg connection."""
    db = connection.settings_dict
    with psycopg.connect(
        dbname=db["NAME"],
        user=db["USER"],
        password=db["PASSWORD"] or None,
        host=db["HOST"],
        port=db["PORT"] or 5432,
        autocommit=True,
    ) as other:
        key = lock_key("nightly_snapshots")
        assert other.execute("SELECT pg_try_advisory_lock(%s)", [key]).fetchone()[0]

        assert nightly_snapshots_task.apply().get() is None

        other.execute("SELECT pg_advisory_unlock(%s)", [key])
    assert not SnapshotRun.objects.exists()
    job = AuditLog.objects.get(event_type="job.nightly_snapshots")
    assert job.metadata == {"outcome": "skipped"}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_overlapping_nightly_runs_do_not_both_run(run_concurrently, monkeypatch):
    import analyticsapp.tasks
    from analyticsapp.services.snapshots import snapshots_build

    finished = threading.Event()

    def build_until_the_other_run_is_done(**kwargs):
        # Keeps the runs overlapping however fast the build is; if the lock
        # failed, both would wait here and both would report "ran".
        run = snapshots_build(**kwargs)
        finished.wait(timeout=5)
        return run

    monkeypatch.setattr(
        analyticsapp.tasks, "snapshots_build", build_until_the_other_run_is_done
    )

    def nightly(_):
        result = nightly_snapshots_task.apply().get()
        finished.set()
        return "skipped" if result is None else "ran"

    assert sorted(run_concurrently(2, nightly)) == ["ran", "skipped"]
    assert SnapshotRun.objects.count() == 1
    outcomes = AuditLog.objects.filter(event_type="job.nightly_snapshots")
    assert sorted(o.metadata["outcome"] for o in outcomes) == ["ran", "skipped"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_lock_inside_an_aborted_transaction_is_freed_by_closing_the_session():
    with pytest.raises(DatabaseError), transaction.atomic():  # noqa: SIM117
        with job_lock("test_job") as acquired, connection.cursor() as cursor:
            assert acquired
            cursor.execute("SELECT 1 / 0")  # aborts the transaction: no unlock
    assert _try_elsewhere("test_job") is True


def _redis_or_skip(url):
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        message = f"Redis is not reachable at {url}: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return redis.Redis.from_url(url)


def _database_url():
    db = connection.settings_dict
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    return (
        f"postgres://{quote(db['USER'], safe='')}{password}"
        f"@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_takes_the_expiry_task_from_redis_and_runs_it(tmp_path):
    from purelaka.celery import app

    broker = _redis_or_skip(TEST_BROKER)
    variant = VariantFactory(stock=1)
    stock_reserve(
        holder="order:worker",
        quantities={variant.pk: 1},
        now=timezone.now() - timezone.timedelta(hours=1),
    )
    queue = f"test-jobs-{uuid.uuid4().hex}"
    log_path = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "purelaka.settings_postgres",
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": TEST_BROKER,
        "CELERY_TASK_ALWAYS_EAGER": "false",
    }
    with log_path.open("w") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", *WORKER, "-Q", queue, "-n", f"{queue}@%h"],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        with app.connection_for_write(TEST_BROKER) as producer_connection:
            expire_reservations_task.apply_async(
                queue=queue, connection=producer_connection
            )
        ran = AuditLog.objects.filter(
            event_type="job.expire_reservations", metadata__outcome="ran"
        )
        deadline = time.monotonic() + 60
        while not ran.exists():
            if worker.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the worker did not run the task:\n{log_path.read_text()}")
            time.sleep(0.2)
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        for key in broker.scan_iter(match=f"*{queue}*"):
            broker.delete(key)
        for binding in broker.scan_iter(match="_kombu.binding.*"):
            for member in broker.smembers(binding):
                if queue.encode() in member:
                    broker.srem(binding, member)

    assert ran.get().metadata == {"outcome": "ran", "expired": 1}
    assert "catalog.expire_reservations" in log_path.read_text()  # not run eagerly
    reservation = StockReservation.objects.get(holder="order:worker")
    assert reservation.status == "expired"
