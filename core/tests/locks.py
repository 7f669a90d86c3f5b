"""Test helper: a job lock held by someone else, as a concurrent run would."""

import threading
from contextlib import contextmanager

from django.db import connection

from core.locks import job_lock


@contextmanager
def job_lock_held_elsewhere(name: str):
    """Hold job `name`'s lock from another thread (on PostgreSQL, another
    database session) until the block ends."""
    taken, release, outcome = threading.Event(), threading.Event(), {}

    def hold():
        try:
            with job_lock(name) as acquired:
                outcome["acquired"] = acquired
                taken.set()
                release.wait(timeout=30)
        finally:
            taken.set()
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    taken.wait(timeout=10)
    try:
        assert outcome.get("acquired"), "the helper could not take the lock"
        yield
    finally:
        release.set()
        holder.join(timeout=10)
