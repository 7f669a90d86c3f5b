"""The replica router's decisions (core/replica.py, purelaka/db_router.py), on any
database: no query reaches a replica here (core/tests/test_replica_pg.py runs a
real standby)."""

import contextlib
import datetime as dt
import io
import json
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import DatabaseError, connections, router, transaction
from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.test import RequestFactory
from django.urls import URLPattern

from core import replica
from core.replica import (
    DEFAULT,
    REPLICA,
    ReplicaState,
    analytics_read,
    analytics_read_view,
    read_alias,
    replica_state,
    state_from_lag_row,
)

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def fresh_replica(monkeypatch):
    """A replica configured (never connected to here) and measured fresh;
    yields the list the measurements are appended to."""
    monkeypatch.setitem(
        connections.settings,
        REPLICA,
        {**connections.settings[DEFAULT], "HOST": "replica.invalid"},
    )
    measured = []

    def measure():
        measured.append(1)
        return ReplicaState(REPLICA, True, 0.0, NOW)

    monkeypatch.setattr(replica, "_measure", measure)
    replica.replica_state_forget()
    yield measured
    replica.replica_state_forget()
    with contextlib.suppress(AttributeError):
        del connections[REPLICA]  # the wrapper made for the settings above


def test_without_a_replica_every_read_goes_to_the_primary():
    assert not replica.replica_configured()
    with analytics_read() as state:
        assert (state.alias, state.configured, state.on_replica) == (
            DEFAULT,
            False,
            False,
        )
        assert router.db_for_read(Group) == DEFAULT
        assert Group.objects.all().db == DEFAULT


def test_only_reads_inside_the_analytics_scope_go_to_the_replica(fresh_replica):
    assert Group.objects.all().db == DEFAULT  # outside any scope
    with analytics_read() as state:
        assert state.on_replica
        assert router.db_for_read(Group) == REPLICA
        assert Group.objects.all().db == REPLICA
        assert router.db_for_write(Group) == DEFAULT  # writes: always the primary
        assert Group.objects.none().using(DEFAULT).db == DEFAULT  # asked for
    assert Group.objects.all().db == DEFAULT
    assert read_alias() == DEFAULT


@pytest.mark.django_db(transaction=True)
def test_a_read_inside_a_write_transaction_goes_to_the_primary(fresh_replica):
    with analytics_read():
        assert read_alias() == REPLICA
        with transaction.atomic():
            assert Group.objects.all().db == DEFAULT  # it reads what it wrote
            Group.objects.create(name="written")
            assert Group.objects.filter(name="written").exists()
        assert Group.objects.all().db == REPLICA


def test_migrations_only_run_on_the_primary():
    for app_label in ("analyticsapp", "orders", "auth"):
        assert router.allow_migrate(DEFAULT, app_label)
        assert not router.allow_migrate(REPLICA, app_label)
    assert router.allow_relation(Group(), Group())


def test_nested_scopes_keep_the_outer_choice(fresh_replica):
    with analytics_read() as outer:
        with analytics_read() as inner:
            assert inner.alias == outer.alias == REPLICA
        assert read_alias() == REPLICA
    assert fresh_replica == [1]


def test_the_lag_is_measured_at_most_every_few_seconds(fresh_replica, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(replica.time, "monotonic", lambda: clock[0])
    replica_state()
    replica_state()
    assert fresh_replica == [1]
    clock[0] += replica.LAG_CHECK_SECONDS + 0.1
    replica_state()
    replica_state(refresh=True)
    assert fresh_replica == [1, 1, 1]


# --- the lag decision --------------------------------------------------------------


def _row(*, in_recovery=True, caught_up=False, behind=None):
    replayed = None if behind is None else NOW - dt.timedelta(seconds=behind)
    return (in_recovery, caught_up, replayed, NOW)


def test_a_replica_within_the_limit_serves_with_its_data_as_of_the_last_replay():
    state = state_from_lag_row(_row(behind=42), max_lag=300)
    assert state.on_replica and state.lag_seconds == 42
    assert state.as_of == NOW - dt.timedelta(seconds=42)


def test_a_replica_past_the_limit_falls_back_to_the_primary():
    state = state_from_lag_row(_row(behind=301), max_lag=300)
    assert state.alias == DEFAULT and state.lag_seconds == 301
    assert state.as_of == NOW  # the primary's data is current
    assert "301s behind" in state.reason


def test_an_idle_primary_is_no_lag_however_old_the_last_replayed_commit():
    state = state_from_lag_row(_row(caught_up=True, behind=86_400), max_lag=300)
    assert state.on_replica and state.lag_seconds == 0 and state.as_of == NOW
    # A "replica" URL that names a primary (not in recovery) lags nothing either.
    assert state_from_lag_row(_row(in_recovery=False), max_lag=300).on_replica


def test_an_unknown_lag_falls_back_to_the_primary():
    state = state_from_lag_row(_row(behind=None), max_lag=300)
    assert state.alias == DEFAULT and state.reason == "replica lag unknown"


def test_an_unreachable_replica_falls_back_to_the_primary(monkeypatch):
    class Postgres:
        vendor = "postgresql"

        def close(self):
            pass

    def refused():
        raise DatabaseError("connection refused")

    monkeypatch.setattr(replica, "connections", {REPLICA: Postgres()})
    monkeypatch.setattr(replica, "_lag_row", refused)
    state = replica._measure()
    assert state.alias == DEFAULT and state.reason == "replica unreachable"


# --- views -------------------------------------------------------------------------


def test_a_wrapped_view_runs_in_the_scope_and_tells_the_request(fresh_replica):
    seen = []

    def view(request):
        seen.append(read_alias())
        return HttpResponse("ok")

    request = RequestFactory().get("/analytics/")
    response = analytics_read_view(view)(request)
    assert response.status_code == 200 and seen == [REPLICA]
    assert request.analytics_read.on_replica and request.analytics_read.as_of == NOW
    assert read_alias() == DEFAULT


def test_a_streamed_export_reads_in_the_scope_after_the_view_returned(fresh_replica):
    seen, closed = [], []

    def view(request):
        def rows():
            try:
                for _ in range(3):
                    seen.append(read_alias())
                    yield b"row\n"
            finally:
                closed.append(read_alias())

        return StreamingHttpResponse(rows())

    response = analytics_read_view(view)(RequestFactory().get("/x.csv"))
    assert read_alias() == DEFAULT and seen == []  # nothing read yet
    chunks = iter(response.streaming_content)
    assert next(chunks) == b"row\n"
    assert read_alias() == DEFAULT  # the scope is not held between chunks
    assert b"".join(chunks) == b"row\nrow\n"
    assert seen == [REPLICA] * 3 and closed == [REPLICA]


def test_a_file_download_is_left_to_the_server(fresh_replica):
    archive = io.BytesIO(b"zip")
    view = analytics_read_view(lambda request: FileResponse(archive))
    response = view(RequestFactory().get("/pack.zip"))
    assert response.file_to_stream is archive  # sendfile still possible
    assert b"".join(response.streaming_content) == b"zip"


def test_a_stream_closed_early_ends_its_reads_in_the_scope():
    closed = []

    def rows():
        try:
            yield b"row\n"
            yield b"row\n"
        finally:
            closed.append(read_alias())

    stream = replica._in_scope(rows(), REPLICA)
    assert next(stream) == b"row\n"
    stream.close()  # the client went away
    assert closed == [REPLICA] and read_alias() == DEFAULT


def test_analytics_dashboards_drill_downs_and_exports_read_in_the_scope():
    from analyticsapp.urls import urlpatterns

    wrapped = {
        p.name for p in urlpatterns if getattr(p.callback, "analytics_read", False)
    }
    assert all(isinstance(p, URLPattern) for p in urlpatterns)
    # Not in the scope: the definitions (no data) and the API token pages (they
    # write tokens, which belong on the primary).
    unscoped = {"definitions", "api_tokens", "api_token_revoke"}
    assert wrapped == {p.name for p in urlpatterns} - unscoped
    assert {"dashboard", "reconciliation_order", "export_download"} <= wrapped


# --- settings ----------------------------------------------------------------------


@pytest.mark.parametrize("module", ["purelaka.settings", "purelaka.settings_postgres"])
def test_database_replica_url_adds_the_replica_mirrored_in_tests(module):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": module,
        "DATABASE_URL": "postgres://app@primary:5432/shop",
        "DATABASE_REPLICA_URL": "postgres://reader@replica:5432/shop",
    }
    code = (
        "import json; from django.conf import settings as s; "
        "print(json.dumps({a: [d['HOST'], d.get('TEST', {}).get('MIRROR')] "
        "for a, d in s.DATABASES.items()}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(out) == {
        "default": ["primary", None],
        "replica": ["replica", "default"],
    }
    assert settings.DATABASE_ROUTERS == ["purelaka.db_router.AnalyticsReplicaRouter"]
    assert settings.REPLICA_MAX_LAG_SECONDS == 300


def test_the_test_mirror_of_a_configured_replica_counts_as_no_replica(monkeypatch):
    """With DATABASE_REPLICA_URL set, tests read the primary's test database
    through `replica` (its TEST MIRROR): the scope reads the primary itself."""
    mirror = {**connections.settings[DEFAULT], "HOST": "replica.invalid"}
    monkeypatch.setitem(connections.settings, REPLICA, mirror)
    assert replica.replica_configured()
    mirror["TEST"] = {**mirror["TEST"], "MIRROR": DEFAULT}
    assert not replica.replica_configured()
    with analytics_read() as state:
        assert state.alias == DEFAULT and not state.configured
