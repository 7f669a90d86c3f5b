"""`make demo` runs the jobs: scripts/demo.sh starts a Celery worker with beat on
kombu's filesystem transport, and these tests start the same worker, on the same
configuration, against a SQLite file of their own."""

import os
import re
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
SCRIPT = ROOT / "scripts" / "demo.sh"
CELERY = Path(sys.executable).parent / "celery"
WITHIN_SECONDS = 60  # generous: a loaded machine starts a worker slowly


def _demo_env(demo_dir: Path) -> dict[str, str]:
    """The variables scripts/demo.sh exports, its folder moved to `demo_dir`."""
    env = {}
    for line in re.findall(r"^export (.+)$", SCRIPT.read_text(), re.MULTILINE):
        for pair in shlex.split(line):
            name, _, value = pair.partition("=")
            env[name] = value.replace("$DEMO_DIR", str(demo_dir))
    return env


def _script_command(program: str) -> list[str]:
    """The script's command line that runs `program`, continuation lines joined."""
    text = SCRIPT.read_text().replace("\\\n", " ")
    [line] = [
        line for line in text.splitlines() if line.strip().startswith(program + " ")
    ]
    return shlex.split(line.rstrip(" &"))[1:]


def _rows(database: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(database, timeout=5) as connection:
        return connection.execute(sql).fetchall()


def _wait_for(database: Path, sql: str, log: Path) -> list[tuple]:
    deadline = time.monotonic() + WITHIN_SECONDS
    while time.monotonic() < deadline:
        if rows := _rows(database, sql):
            return rows
        time.sleep(0.25)
    raise AssertionError(
        f"nothing for {sql!r} within {WITHIN_SECONDS}s; the worker's log:\n"
        + (log.read_text() if log.exists() else "(none)")
    )


def test_make_demo_runs_the_script_with_the_worker_and_beat_beside_the_server():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo: .*\n\tscripts/demo\.sh$", makefile, re.MULTILINE)
    script = SCRIPT.read_text()
    assert os.access(SCRIPT, os.X_OK)
    env = _demo_env(Path("/demo"))
    assert env["CELERY_BROKER_URL"] == "filesystem://"
    assert env["CELERY_BROKER_FOLDER"] == "/demo/broker"
    assert env["CELERY_TASK_ALWAYS_EAGER"] == "0"
    assert env["DATABASE_URL"] == "sqlite:///db.sqlite3"
    assert env["PAYMENTS_USE_STRIPE"] == "0"
    # Seeded, then checked once, before anything is served.
    steps = ["manage.py migrate", "manage.py seed_demo", "manage.py run_checks"]
    assert [script.index(s) for s in steps] == sorted(script.index(s) for s in steps)
    assert script.index("manage.py run_checks") < script.index("manage.py runserver")
    worker = _script_command("$BIN/celery")
    assert worker[:4] == ["-A", "purelaka", "worker", "--beat"]
    assert "django_celery_beat.schedulers:DatabaseScheduler" in worker
    assert worker[worker.index("--pool") + 1] == "solo"
    # Ctrl-C (or either one ending) stops both process groups.
    assert "trap stop INT TERM EXIT" in script and "wait -n" in script
    assert (ROOT / ".gitignore").read_text().count("\n.demo/\n") == 1


def test_the_demo_worker_runs_a_sent_task_and_what_beat_finds_due(tmp_path):
    """A real worker and beat on the filesystem broker: a task sent by hand and
    the reservation sweep beat sends on its own both run, and their audit rows
    land in the database."""
    database = tmp_path / "db.sqlite3"
    env = {
        **os.environ,
        **_demo_env(tmp_path),
        "DATABASE_URL": f"sqlite:///{database}",
    }
    broker = Path(env["CELERY_BROKER_FOLDER"])
    (broker / "queue").mkdir(parents=True)
    (broker / "processed").mkdir()
    python = [sys.executable, "manage.py"]
    subprocess.run(
        [*python, "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    # The sweep last ran long ago: due the moment beat starts.
    with sqlite3.connect(database) as connection:
        connection.execute(
            "UPDATE django_celery_beat_periodictask SET last_run_at = "
            "'2000-01-01 00:00:00' WHERE task = 'catalog.expire_reservations'"
        )
    subprocess.run(
        [
            sys.executable,
            "-c",
            "from purelaka.celery import app; app.send_task('monitoring.run_checks')",
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    assert len(list((broker / "queue").iterdir())) == 1  # waiting for a worker

    log = tmp_path / "worker.log"
    worker = _script_command("$BIN/celery")
    worker[worker.index("--logfile") + 1] = str(log)
    process = subprocess.Popen(
        [str(CELERY), *worker],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        checks = _wait_for(
            database,
            "SELECT actor_label FROM audit_auditlog "
            "WHERE event_type = 'monitoring.checks_run'",
            log,
        )
        sweep = _wait_for(
            database,
            "SELECT actor_label, metadata FROM audit_auditlog "
            "WHERE event_type = 'job.expire_reservations'",
            log,
        )
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert checks == [("celery:run_checks",)]
    assert sweep[0][0] == "celery:expire_reservations"
    text = log.read_text()
    assert "Connected to filesystem://" in text
    assert "Sending due task" in text and "catalog.expire_reservations" in text
    assert not list((broker / "queue").iterdir())  # every message taken
