"""The Celery app test_queues.py's worker processes run (`celery -A
core.tests.queue_worker_app worker`): the project's app, with its broker keys under
the test run's own prefix (TEST_QUEUE_PREFIX), so no other run's worker takes its
messages, and one task that exists only here: a bulk job that holds its worker
until the test releases it.

Never imported by the test process itself, so `tests.hold_bulk` is not among the
tasks test_queues checks for a route.
"""

import os
import time
from pathlib import Path

from purelaka.celery import app

app.conf.broker_transport_options = {
    **app.conf.broker_transport_options,
    "global_keyprefix": os.environ["TEST_QUEUE_PREFIX"],
}
HOLD_LIMIT_SECONDS = 90


@app.task(name="tests.hold_bulk")
def hold_bulk(folder: str) -> str:
    """Touch `started`, wait for `release` (at most HOLD_LIMIT_SECONDS), touch
    `finished`."""
    folder_path = Path(folder)
    (folder_path / "started").touch()
    deadline = time.monotonic() + HOLD_LIMIT_SECONDS
    while not (folder_path / "release").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    (folder_path / "finished").touch()
    return "released"
