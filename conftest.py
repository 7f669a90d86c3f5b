"""Project-wide test setup: fast hashing, the PostgreSQL marker, role fixtures."""

import threading

import pytest
from django.db import connection


def pytest_collection_modifyitems(config, items):
    from django.conf import settings

    vendor = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" in vendor:
        return
    skip = pytest.mark.skip(reason="PostgreSQL-only test: run under settings_postgres")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _second_factor_only_where_tested(request, settings):
    """Staff sessions in tests about other things have passed their second factor:
    the rule that admins must use one is on only in tests marked `two_factor`
    (accounts/tests/test_two_factor.py, the browser journey that enrols one)."""
    if "two_factor" not in request.keywords:
        settings.TWO_FACTOR_REQUIRED_ROLES = []


@pytest.fixture(autouse=True)
def _fast_hashing_and_clean_axes(settings):
    from django.core.cache import cache

    cache.clear()  # no test sees another's cached KPIs
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {
            "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        },
    }


@pytest.fixture
def on_postgres():
    return connection.vendor == "postgresql"


@pytest.fixture
def make_user(db):
    from accounts.tests.factories import UserFactory

    def make(role=None, **kwargs):
        return UserFactory(roles=[role] if role else [], **kwargs)

    return make


@pytest.fixture
def customer(make_user):
    return make_user("customer")


@pytest.fixture
def ops_user(make_user):
    return make_user("ops")


@pytest.fixture
def analyst(make_user):
    return make_user("analyst")


@pytest.fixture
def admin_user(make_user):
    return make_user("admin")


@pytest.fixture
def run_concurrently():
    """run(count, work) → results: `work(i)` in `count` threads released together,
    each on its own database connection; an exception becomes its repr."""

    def run(count, work):
        barrier, results, lock = threading.Barrier(count), [], threading.Lock()

        def one(i):
            try:
                barrier.wait()
                outcome = work(i)
            except Exception as exc:  # the caller's assertions name it
                outcome = repr(exc)
            finally:
                connection.close()
            with lock:
                results.append(outcome)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results

    return run


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    """Run `action` with its after-commit deliveries (the offline gateway's signed
    events), as production would once the transaction commits."""

    def call(action, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return action(*args, **kwargs)

    return call


@pytest.fixture
def smtp(settings):
    """A real SMTP server (aiosmtpd on a loopback port) that Django's SMTP backend
    sends to for the test; links in the mail start https://shop.example.com."""
    from core.tests.smtp import smtp_server

    settings.SITE_URL = "https://shop.example.com"
    with smtp_server(settings) as inbox:
        yield inbox
