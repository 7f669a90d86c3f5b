"""The replica router against a real streaming standby: a primary cluster of the
test's own (initdb, in a temporary folder, on a free loopback port), a standby
made from it with pg_basebackup on another port, both stopped and deleted
afterwards, whatever happens. Django's `default` and `replica` point at them for
the test (a cluster of its own: the shared one allows no replication connection).

PostgreSQL only (the settings_postgres leg of `make test`); without the local
PostgreSQL binaries it is skipped, except under CI=true, where that fails.
"""

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext

from core.replica import (
    DEFAULT,
    REPLICA,
    analytics_read,
    replica_state,
    replica_state_forget,
)

pytestmark = pytest.mark.postgres
DATABASE = "replica_test"
STEP_TIMEOUT = 60


def _unavailable(reason: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (required under CI=true)")
    pytest.skip(reason)


def _bin_dir() -> Path:
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
        reverse=True,
    )
    if initdb := shutil.which("initdb"):
        candidates.append(str(Path(initdb).parent))
    for folder in map(Path, candidates):
        tools = ("initdb", "pg_ctl", "pg_basebackup", "psql")
        if all((folder / tool).exists() for tool in tools):
            return folder
    _unavailable("no PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup)")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Clusters:
    """A primary and its streaming standby, run as the `postgres` OS user when
    the tests run as root (a server refuses to run as root)."""

    def __init__(self, bin_dir: Path):
        self.bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="purelaka-replica-"))
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                shutil.rmtree(self.root)
                _unavailable("running as root and no `postgres` user to run a server")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.primary_dir = self.root / "primary"
        self.standby_dir = self.root / "standby"
        self.primary_port, self.standby_port = _free_port(), _free_port()
        self.started: list[Path] = []

    def run(self, *argv, as_server_user=True, **kwargs):
        prefix = self.as_user if as_server_user else []
        return subprocess.run(
            [*prefix, *map(str, argv)],
            check=True,
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT,
            **kwargs,
        )

    def _start(self, data_dir: Path):
        log = data_dir.parent / f"{data_dir.name}.log"
        self.run(
            self.bin / "pg_ctl", "-D", data_dir, "-l", log, "-w", "-t", STEP_TIMEOUT,
            "start",
        )  # fmt: skip
        self.started.append(data_dir)

    def start(self):
        self.run(
            self.bin / "initdb", "-D", self.primary_dir, "-U", "postgres",
            "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        with (self.primary_dir / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {self.primary_port}\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.root}'\n"
                "wal_level = replica\nmax_wal_senders = 4\n"
                "fsync = off\nsynchronous_commit = off\nshared_buffers = 16MB\n"
            )
        self._start(self.primary_dir)
        self.psql(self.primary_port, "postgres", f"CREATE DATABASE {DATABASE}")
        self.run(
            self.bin / "pg_basebackup", "-h", "127.0.0.1", "-p", self.primary_port,
            "-U", "postgres", "-D", self.standby_dir, "-R", "-X", "stream",
            "-c", "fast",
        )  # fmt: skip
        with (self.standby_dir / "postgresql.conf").open("a") as conf:
            conf.write(f"port = {self.standby_port}\nhot_standby = on\n")
        self._start(self.standby_dir)

    def psql(self, port: int, database: str, sql: str):
        return self.run(
            self.bin / "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
            "-h", "127.0.0.1", "-p", port, "-U", "postgres", "-d", database,
            as_server_user=False, input=sql,
        )  # fmt: skip

    def logs(self) -> str:
        return "\n".join(
            f"--- {log.name}\n{log.read_text()[-3000:]}"
            for log in sorted(self.root.glob("*.log"))
        )

    def stop(self):
        for data_dir in reversed(self.started):
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                self.run(
                    self.bin / "pg_ctl", "-D", data_dir, "-m", "immediate", "-w", "stop"
                )
            pid_file = data_dir / "postmaster.pid"
            if pid_file.exists():  # pg_ctl could not stop it: the postmaster itself
                with contextlib.suppress(OSError, ValueError):
                    os.kill(int(pid_file.read_text().split()[0]), 9)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def clusters():
    cluster = Clusters(_bin_dir())
    try:
        cluster.start()
    except subprocess.SubprocessError as exc:
        logs = cluster.logs()
        cluster.stop()
        detail = getattr(exc, "stderr", "") or ""
        pytest.fail(
            f"could not start the primary and its standby: {exc}\n{detail}\n{logs}"
        )
    yield cluster
    cluster.stop()


@contextlib.contextmanager
def _django_on(cluster: Clusters):
    """`default` on the primary and `replica` on the standby, then as before."""
    saved = {alias: connections.settings.get(alias) for alias in (DEFAULT, REPLICA)}

    def drop_connections():
        for alias in (DEFAULT, REPLICA):
            if alias in connections.settings:
                connections[alias].close()
                with contextlib.suppress(AttributeError):
                    del connections[alias]

    base = {**saved[DEFAULT]}
    drop_connections()
    connections.settings[DEFAULT] = {
        **base, "NAME": DATABASE, "USER": "postgres", "PASSWORD": "",
        "HOST": "127.0.0.1", "PORT": str(cluster.primary_port),
    }  # fmt: skip
    connections.settings[REPLICA] = {
        **connections.settings[DEFAULT], "PORT": str(cluster.standby_port),
    }  # fmt: skip
    replica_state_forget()
    try:
        yield
    finally:
        drop_connections()
        connections.settings[DEFAULT] = saved[DEFAULT]
        if saved[REPLICA] is None:
            connections.settings.pop(REPLICA, None)
        else:
            connections.settings[REPLICA] = saved[REPLICA]
        replica_state_forget()


def _one(alias: str, sql: str, params=()):
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def _eventually(condition, what: str, cluster: Clusters, within: float = 20):
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {within}s\n{cluster.logs()}")
        time.sleep(0.1)


def _on_standby(model: str) -> bool:
    sql = "SELECT count(*) FROM django_content_type WHERE model = %s"
    return _one(REPLICA, sql, [model]) == 1


def _write(model: str) -> None:
    ContentType.objects.create(app_label="replica_test", model=model)


def _rows(model: str):
    return ContentType.objects.filter(app_label="replica_test", model=model)


def test_analytics_reads_a_real_standby_until_it_lags(
    clusters, settings, django_db_blocker
):
    with django_db_blocker.unblock(), _django_on(clusters):
        assert _one(REPLICA, "SELECT pg_is_in_recovery()") is True
        assert _one(DEFAULT, "SELECT pg_is_in_recovery()") is False
        with connections[DEFAULT].schema_editor() as editor:
            editor.create_model(ContentType)  # DDL: on the primary, streamed too
        _eventually(
            lambda: _one(REPLICA, "SELECT to_regclass('django_content_type')::text"),
            "the table on the standby",
            clusters,
        )

        # Written on the primary (autocommit), streamed to the standby.
        _write("replicated")
        _eventually(
            lambda: _on_standby("replicated"), "the row on the standby", clusters
        )

        with analytics_read() as state:
            assert state.on_replica
            assert state.lag_seconds < settings.REPLICA_MAX_LAG_SECONDS
            rows = _rows("replicated")
            assert rows.db == REPLICA
            with CaptureQueriesContext(connections[REPLICA]) as on_replica:
                assert list(rows.values_list("model", flat=True)) == ["replicated"]
            assert any("django_content_type" in q["sql"] for q in on_replica)
            assert _one(rows.db, "SELECT pg_is_in_recovery()") is True

            # Inside a write transaction: the primary, which sees its own write.
            with transaction.atomic():
                assert ContentType.objects.all().db == DEFAULT
                _write("in transaction")
                assert _rows("in transaction").exists()
                alias = ContentType.objects.all().db
                assert _one(alias, "SELECT pg_is_in_recovery()") is False

        # Replay paused with WAL still arriving: the standby falls behind, past a
        # limit of one second.
        settings.REPLICA_MAX_LAG_SECONDS = 1
        _one(REPLICA, "SELECT pg_wal_replay_pause()::text")
        _write("while paused")
        _eventually(
            lambda: _one(
                REPLICA, "SELECT pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn()"
            ),
            "the standby received WAL it has not replayed",
            clusters,
        )
        _eventually(
            lambda: replica_state(refresh=True).alias == DEFAULT,
            "the lag past REPLICA_MAX_LAG_SECONDS noticed",
            clusters,
        )
        with analytics_read() as state:
            assert state.lag_seconds > 1 and "behind" in state.reason
            paused = _rows("while paused")
            assert paused.db == DEFAULT and paused.exists()  # the primary has it
        assert not _on_standby("while paused")

        # Replay resumed: caught up, analytics go back to the standby.
        _one(REPLICA, "SELECT pg_wal_replay_resume()::text")
        _eventually(lambda: _on_standby("while paused"), "replay resumed", clusters)
        _eventually(
            lambda: replica_state(refresh=True).on_replica,
            "the standby used again once caught up",
            clusters,
        )
        with analytics_read():
            assert _rows("while paused").db == REPLICA
            assert _rows("while paused").exists()
