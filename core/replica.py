"""The analytics read scope: reads inside it go to the read replica
(`DATABASES["replica"]`, DATABASE_REPLICA_URL) when it is fresh enough, everything
else to the primary (docs/deployment.md). The router that applies it is
purelaka.db_router.AnalyticsReplicaRouter; this module is in core so that the apps
that open the scope (analyticsapp/urls.py) import nothing above them.

- `analytics_read()` opens the scope (a context manager); `analytics_read_view`
  wraps a view in it, streamed content included. Analytics dashboards, drill-downs
  and exports are wrapped where they are routed (analyticsapp/urls.py).
- The scope decides once, on entry, which database its reads use: the replica
  when one is configured and no more than `REPLICA_MAX_LAG_SECONDS` behind, else
  the primary. The lag is measured on the replica (`pg_last_xact_replay_timestamp()`)
  at most every `LAG_CHECK_SECONDS` per process; an unreachable replica counts as
  too far behind.
- The router follows the scope for reads, except inside a
  transaction on the primary (a write transaction reads what it wrote); writes,
  and every migration, go to the primary.

A view learns where its data came from through `request.analytics_read` (a
`ReplicaState`): `as_of` is the time the data it reads is current to, for a
page's "data as of …".

Raw SQL through `django.db.connection` is always the primary's: code that reads
in the scope with its own cursor takes `read_connection()` instead.
"""

import contextvars
import datetime as dt
import logging
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import wraps

from django.conf import settings
from django.core import mail
from django.db import DatabaseError, connections
from django.utils import timezone

DEFAULT = "default"
REPLICA = "replica"
LAG_CHECK_SECONDS = 5.0

log = logging.getLogger(__name__)

# The alias the current scope reads from; None outside any scope.
_scope: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "analytics_read_alias", default=None
)

# Idle primary: nothing left to replay means no lag, however old the last commit.
LAG_SQL = """
SELECT pg_is_in_recovery(),
       pg_last_wal_receive_lsn() IS NOT NULL
           AND pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn(),
       pg_last_xact_replay_timestamp(),
       clock_timestamp()
"""


@dataclass(frozen=True)
class ReplicaState:
    """Where an analytics scope reads from, and how current that data is."""

    alias: str  # the database the scope's reads use: REPLICA or DEFAULT
    configured: bool  # whether a replica is configured at all
    lag_seconds: float | None = None  # the replica's lag (None: unknown)
    as_of: dt.datetime | None = None  # the data is current to this moment
    reason: str = ""  # why the primary was chosen over a configured replica

    @property
    def on_replica(self) -> bool:
        return self.alias == REPLICA


_cache_lock = threading.Lock()
_cache: tuple[float, ReplicaState] | None = None


def replica_configured() -> bool:
    """Whether a replica is configured, other than a test mirror: under Django's
    test environment (which keeps mail in `mail.outbox`) a replica with TEST
    MIRROR is the primary's test database, read through the primary itself."""
    if REPLICA not in connections.settings:
        return False
    mirror = connections.settings[REPLICA].get("TEST", {}).get("MIRROR")
    return not (mirror and hasattr(mail, "outbox"))


def _lag_row() -> tuple:
    with connections[REPLICA].cursor() as cursor:
        cursor.execute(LAG_SQL)
        return cursor.fetchone()


def state_from_lag_row(row: tuple, *, max_lag: float) -> ReplicaState:
    """The decision for LAG_SQL's answer `row`: the replica while it is no more
    than `max_lag` seconds behind (or has nothing left to replay), else the primary."""
    in_recovery, caught_up, replayed_at, clock = row
    if not in_recovery or caught_up:
        return ReplicaState(REPLICA, True, 0.0, clock)
    if replayed_at is None:
        return ReplicaState(DEFAULT, True, None, clock, "replica lag unknown")
    lag = max((clock - replayed_at).total_seconds(), 0.0)
    if lag > max_lag:
        reason = f"replica {lag:.0f}s behind (limit {max_lag:.0f}s)"
        return ReplicaState(DEFAULT, True, lag, clock, reason)
    return ReplicaState(REPLICA, True, lag, replayed_at)


def _measure() -> ReplicaState:
    """Ask the replica how far behind it is (one query)."""
    if connections[REPLICA].vendor != "postgresql":  # SQLite in tests: no lag
        return ReplicaState(REPLICA, True, 0.0, timezone.now())
    try:
        row = _lag_row()
    except DatabaseError as exc:
        log.warning("read replica unreachable, reading the primary: %s", exc)
        connections[REPLICA].close()
        return ReplicaState(DEFAULT, True, None, timezone.now(), "replica unreachable")
    return state_from_lag_row(row, max_lag=float(settings.REPLICA_MAX_LAG_SECONDS))


def replica_state(*, refresh: bool = False) -> ReplicaState:
    """Where an analytics scope opened now reads from (measured at most every
    LAG_CHECK_SECONDS, unless `refresh`)."""
    global _cache
    if not replica_configured():
        return ReplicaState(DEFAULT, False, as_of=timezone.now())
    with _cache_lock:
        now = time.monotonic()
        if refresh or _cache is None or now - _cache[0] > LAG_CHECK_SECONDS:
            _cache = (now, _measure())
        return _cache[1]


def replica_state_forget() -> None:
    """Drop the measured lag (tests; after reconfiguring the replica)."""
    global _cache
    with _cache_lock:
        _cache = None


@contextmanager
def _reading_from(alias: str) -> Iterator[None]:
    token = _scope.set(alias)
    try:
        yield
    finally:
        _scope.reset(token)


@contextmanager
def analytics_read() -> Iterator[ReplicaState]:
    """Reads inside go to the replica when it is fresh enough (see module doc);
    yields the ReplicaState chosen. Nested scopes keep the outer one's choice."""
    outer = _scope.get()
    if outer is not None:
        yield ReplicaState(outer, replica_configured())
        return
    state = replica_state()
    with _reading_from(state.alias):
        yield state


def _in_scope(content: Iterable, alias: str) -> Iterator:
    """Stream `content` with each chunk produced inside the scope (a streamed
    export reads after its view has returned), the scope never held across a
    yield."""
    chunks = iter(content)
    try:
        while True:
            with _reading_from(alias):
                try:
                    chunk = next(chunks)
                except StopIteration:
                    return
            yield chunk
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            with _reading_from(alias):
                close()


def analytics_read_view(view):
    """Run `view` in an analytics read scope (its template rendering and
    streamed content too); sets `request.analytics_read` to the ReplicaState."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        with analytics_read() as state:
            request.analytics_read = state
            response = view(request, *args, **kwargs)
            if getattr(response, "is_rendered", True) is False:
                response.render()  # a TemplateResponse reads as it renders
        # A file's bytes read no database (and keep the server's sendfile).
        streams_rows = getattr(response, "file_to_stream", None) is None
        if getattr(response, "streaming", False) and streams_rows:
            response.streaming_content = _in_scope(
                response.streaming_content, state.alias
            )
        return response

    wrapped.analytics_read = True
    return wrapped


def read_alias() -> str:
    """The database a read made here goes to (the router's decision)."""
    alias = _scope.get()
    if alias is None or alias == DEFAULT or connections[DEFAULT].in_atomic_block:
        return DEFAULT
    return alias


def read_connection():
    """The connection for raw SQL that reads: the replica's inside a fresh
    analytics scope, else the primary's."""
    return connections[read_alias()]
