"""Three Celery queues (settings.CELERY_TASK_ROUTES): live webhook events,
scheduled jobs, bulk work. Every task has its route; the compose files run a worker
per queue and one beat; the demo's one worker takes all three; and a real live
worker applies a webhook event while a real bulk worker is busy with a long job."""

import os
import re
import shlex
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from celery import current_app
from django.conf import settings
from django.db import connection

from catalog.tests.factories import VariantFactory
from demo.tests.test_demo_jobs import _script_command
from orders.tests.factories import place_order
from payments.models import StripeEvent
from payments.services.inbox import PROCESS_TASK
from payments.tests.events import intent_succeeded, post

ROOT = Path(settings.BASE_DIR)
QUEUES = set(settings.TASK_QUEUE_NAMES)
# Redis database 13 (core/tests/test_jobs.py takes 14), every key under a prefix
# of this run's own (core/tests/queue_worker_app.py).
TEST_BROKER = "redis://127.0.0.1:6379/13"
WITHIN_SECONDS = 60


def _app():
    from purelaka.celery import app

    app.loader.import_default_modules()  # what a worker registers at start-up
    return app


def _queue_of(app, name: str) -> str:
    return app.amqp.router.route({}, name)["queue"].name


def _explicit_route(name: str) -> dict | None:
    routes = settings.CELERY_TASK_ROUTES
    if name in routes:
        return routes[name]
    if name.startswith("celery."):  # Celery's own, one glob for all of them
        return routes.get("celery.*")
    return None


def test_every_registered_task_has_an_explicit_route_to_one_of_the_queues():
    app = _app()
    ours = [name for name in app.tasks if not name.startswith("celery.")]
    assert len(ours) >= 8  # autodiscovery found the apps' tasks
    unrouted = [name for name in sorted(app.tasks) if _explicit_route(name) is None]
    assert not unrouted, (
        f"tasks without a route in CELERY_TASK_ROUTES: {unrouted}; give each a "
        f"queue of {sorted(QUEUES)} (docs/deployment.md)"
    )
    for name in app.tasks:
        assert _queue_of(app, name) == _explicit_route(name)["queue"] in QUEUES
    # No stale route: each named one is a task that exists.
    stale = [
        name
        for name in settings.CELERY_TASK_ROUTES
        if "*" not in name and name not in app.tasks
    ]
    assert not stale


def test_webhooks_go_live_long_work_bulk_and_the_rest_scheduled():
    app = _app()
    assert _queue_of(app, PROCESS_TASK) == "live"
    assert _queue_of(app, "analyticsapp.import_stripe_history") == "bulk"
    for name in (
        "analyticsapp.nightly_snapshots",
        "analyticsapp.stripe_catch_up",
        "catalog.expire_reservations",
        "monitoring.run_checks",
        "payments.reprocess_stripe_events",
        "payments.settlement_sync",
    ):
        assert _queue_of(app, name) == "scheduled", name
    assert {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()} == QUEUES
    # A name nobody routed (a typo in send_task) never lands on live or bulk.
    assert settings.CELERY_TASK_DEFAULT_QUEUE == "scheduled"


@pytest.mark.django_db
def test_every_task_beat_sends_goes_to_the_scheduled_queue():
    from django_celery_beat.models import PeriodicTask

    app = _app()
    scheduled = PeriodicTask.objects.exclude(task="celery.backend_cleanup")
    assert scheduled.count() >= 5  # the schedule the migrations write
    for task in scheduled:
        assert task.task in app.tasks, task.task
        # A queue on the row itself would override the route.
        assert not task.queue and not task.exchange and not task.routing_key
        assert _queue_of(app, task.task) == "scheduled", task.task


def _worker_queues(compose: Path) -> dict[str, list[str]]:
    """service name -> the queues its `celery ... worker` command consumes."""
    text = compose.read_text()
    services = {}
    for service, command in re.findall(
        r"^  ([\w-]+):\n(?:    .*\n)*?    command: (celery .*)$", text, re.MULTILINE
    ):
        services[service] = shlex.split(command)
    workers = {}
    for service, argv in services.items():
        if "worker" in argv:
            workers[service] = argv[argv.index("-Q") + 1].split(",")
    beats = [service for service, argv in services.items() if "beat" in argv]
    assert beats == ["beat"], f"{compose.name}: one beat, got {beats}"
    return workers


@pytest.mark.parametrize("compose", ["docker-compose.yml", "docker-compose.prod.yml"])
def test_the_compose_files_run_one_worker_per_queue_and_one_beat(compose):
    workers = _worker_queues(ROOT / compose)
    assert workers == {f"worker-{queue}": [queue] for queue in QUEUES}


def test_the_demo_worker_consumes_every_queue():
    worker = _script_command("$BIN/celery")
    assert set(worker[worker.index("-Q") + 1].split(",")) == QUEUES


# --- a live event applied while a bulk job runs (real workers, Redis) -----------


def _database_url():
    db = connection.settings_dict
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    return (
        f"postgres://{quote(db['USER'], safe='')}{password}"
        f"@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )


def _redis_or_skip(url):
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2)
        client.ping()
    except redis.RedisError as exc:
        message = f"Redis is not reachable at {url}: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return client


@pytest.fixture
def test_broker(monkeypatch):
    """This process publishes to TEST_BROKER under a prefix of its own; yields
    the prefix. Every key under it is deleted afterwards."""
    broker = _redis_or_skip(TEST_BROKER)
    prefix = f"test-queues-{uuid.uuid4().hex}:"
    app = current_app._get_current_object()
    app.close()  # no pooled connection or producer for another broker is reused
    monkeypatch.setattr(app.amqp, "_producer_pool", None)
    monkeypatch.setitem(app.conf, "broker_url", TEST_BROKER)
    monkeypatch.setitem(
        app.conf,
        "broker_transport_options",
        {**app.conf.broker_transport_options, "global_keyprefix": prefix},
    )
    yield prefix
    app.close()
    for key in broker.scan_iter(match=f"{prefix}*"):
        broker.delete(key)


def _start_worker(queue: str, prefix: str, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "purelaka.settings_postgres",
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": TEST_BROKER,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "TEST_QUEUE_PREFIX": prefix,
    }
    command = [
        *(sys.executable, "-m", "celery", "-A", "core.tests.queue_worker_app"),
        *("worker", "-Q", queue, "-n", f"{queue}-{uuid.uuid4().hex[:8]}@%h"),
        *("--pool", "solo", "--concurrency", "1", "--loglevel", "INFO"),
        *("--without-gossip", "--without-mingle", "--without-heartbeat"),
    ]
    with log.open("w") as out:
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGTERM)
    try:
        worker.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()


def _wait(condition, what: str, logs: list[Path]) -> float:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > WITHIN_SECONDS:
            pytest.fail(
                f"{what}: not within {WITHIN_SECONDS}s\n"
                + "\n".join(f"--- {log.name}\n{log.read_text()}" for log in logs)
            )
        time.sleep(0.1)
    return time.monotonic() - start


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_webhook_event_is_applied_while_a_long_bulk_job_holds_its_worker(
    client, settings, test_broker, customer, tmp_path
):
    settings.STRIPE_WEBHOOK_PROCESSING = "queue"
    order = place_order(customer=customer, variants={VariantFactory(stock=3): 1})
    logs = [tmp_path / "worker-bulk.log", tmp_path / "worker-live.log"]
    hold = tmp_path / "hold"
    hold.mkdir()
    workers = [
        _start_worker("bulk", test_broker, logs[0]),
        _start_worker("live", test_broker, logs[1]),
    ]
    try:
        current_app.send_task("tests.hold_bulk", args=[str(hold)], queue="bulk")
        _wait((hold / "started").exists, "the bulk job started", logs)

        response = post(client, intent_succeeded(order))  # autocommit: published
        assert (response.status_code, response.content) == (200, b"queued")
        event = StripeEvent.objects.get()
        took = _wait(
            lambda: StripeEvent.objects.get(pk=event.pk).status == "processed",
            "the live worker applied the event",
            logs,
        )
        # Applied while the bulk job still held the bulk worker.
        assert not (hold / "finished").exists()
        assert all(worker.poll() is None for worker in workers)
        order.refresh_from_db()
        assert order.status == "paid"

        (hold / "release").touch()
        _wait((hold / "finished").exists, "the bulk job finished", logs)
    finally:
        (hold / "release").touch()
        for worker in workers:
            _stop(worker)

    bulk_log, live_log = (log.read_text() for log in logs)
    # (The paid order's confirmation email is live work too.)
    assert PROCESS_TASK in _received(live_log)
    assert "tests.hold_bulk" not in _received(live_log)
    assert _received(bulk_log) == ["tests.hold_bulk"]
    assert took < WITHIN_SECONDS


def _received(log: str) -> list[str]:
    """The tasks a worker's log says it received (its banner lists them all)."""
    return re.findall(r"Task ([\w.]+)\[[0-9a-f-]+\] received", log)
