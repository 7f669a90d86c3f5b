"""Job locks: one run of a named job at a time, across processes and hosts.

On PostgreSQL a job lock is a session-level advisory lock (`pg_try_advisory_lock`)
on a key derived from the job's name. The database is the one thing every web,
worker and cron process shares, the lock needs no table and no cleanup, and
PostgreSQL releases it by itself when the holding session ends, so a worker
killed mid-job (OOM, hard time limit, deploy) never leaves a stale lock behind.
Session-level, not transaction-level: the jobs commit in several transactions
(one per Stripe event, one per check) and the lock must outlive each of them.
It needs a real session, so PgBouncer in transaction-pooling mode would break it.

SQLite is development only, on one machine, so the lock is an exclusive
`flock` on a file named after the database and the job: it holds across the
runserver, worker and cron processes sharing that database file, and the
kernel releases it when the holder exits, the same guarantee as the advisory
lock. An in-memory database (the test suite's) lives in one process, so its
lock is a plain thread lock in that process.
"""

import fcntl
import hashlib
import logging
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

logger = logging.getLogger(__name__)

KEY_NAMESPACE = "purelaka.job:"
_process_locks: dict[str, threading.Lock] = {}
_process_locks_guard = threading.Lock()


def lock_key(name: str) -> int:
    """The advisory-lock key of a job: a signed 64-bit integer, the same in every
    process (Python's `hash()` is salted per process, so it will not do)."""
    digest = hashlib.sha256(f"{KEY_NAMESPACE}{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def job_lock(name: str, *, using: str = DEFAULT_DB_ALIAS) -> Iterator[bool]:
    """Try to take the lock of job `name` without waiting; yield whether it was
    taken, and release it on the way out (also when the job raises).

    A caller that gets False must not run the job: another run holds it.
    On PostgreSQL, a lock that cannot be released cleanly (the connection broke,
    or its transaction aborted) is released by closing the connection.
    """
    connection = connections[using]
    if connection.vendor == "postgresql":
        with _advisory_lock(connection, lock_key(name)) as acquired:
            yield acquired
    elif connection.vendor == "sqlite" and connection.is_in_memory_db():
        with _process_lock(name) as acquired:
            yield acquired
    elif connection.vendor == "sqlite":
        with _file_lock(_lock_path(connection, name)) as acquired:
            yield acquired
    else:
        raise NotImplementedError(f"no job lock for {connection.vendor}")


@contextmanager
def _advisory_lock(connection, key: int) -> Iterator[bool]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            _advisory_unlock(connection, key)


def _advisory_unlock(connection, key: int) -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
    except DatabaseError:
        # Left held, the lock would outlive the job on a persistent connection;
        # ending the session is the one sure way to release it.
        logger.warning("job lock %s: unlock failed, closing the connection", key)
        connection.close()


def _lock_path(connection, name: str) -> Path:
    database = str(Path(connection.settings_dict["NAME"]).resolve())
    digest = hashlib.sha256(f"{database}\0{name}".encode()).hexdigest()[:24]
    return Path(tempfile.gettempdir()) / f"purelaka-job-{digest}.lock"


@contextmanager
def _file_lock(path: Path) -> Iterator[bool]:
    # Each call opens its own file description, so the flock also excludes
    # other threads of this process, not only other processes.
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _process_lock(name: str) -> Iterator[bool]:
    with _process_locks_guard:
        lock = _process_locks.setdefault(name, threading.Lock())
    acquired = lock.acquire(blocking=False)
    try:
        yield acquired
    finally:
        if acquired:
            lock.release()
