#!/usr/bin/env bash
# `make demo`: migrate, seed the shop, run the checks once, then serve it with its
# jobs running: a Celery worker with beat (the schedule of the migrations, in the
# database) beside runserver. The broker needs no server: kombu's filesystem
# transport, its messages files under .demo/broker/. Ctrl-C, or either process
# ending, stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
PY=$BIN/python
DEMO_DIR=$PWD/.demo
ADDRESS=127.0.0.1:8000

# SQLite and offline payments whatever .env says; tasks go through the broker
# (never inline), and no result is kept.
export DJANGO_SETTINGS_MODULE=purelaka.settings
export DATABASE_URL=sqlite:///db.sqlite3
export PAYMENTS_USE_STRIPE=0 DJANGO_DEBUG=1
export CELERY_BROKER_URL=filesystem:// CELERY_BROKER_FOLDER=$DEMO_DIR/broker
export CELERY_TASK_ALWAYS_EAGER=0 CELERY_RESULT_BACKEND=
export EMAIL_URL=filemail:///.demo/mail  # read them on /dev/outbox/
mkdir -p "$CELERY_BROKER_FOLDER/queue" "$CELERY_BROKER_FOLDER/processed"

$PY manage.py migrate --noinput
# Months of made-up history: no mail to its made-up customers (the outbox shows
# what the visitor's own orders, and the checks below, send).
MESSAGES_DISABLED='*' $PY manage.py seed_demo
# So /monitoring/ shows what needs attention from the first page.
$PY manage.py run_checks

# The first run of each job right away (beat then keeps to the schedule): queued
# now, they wait in the broker's folder until the worker starts.
$PY - <<'EOF'
from purelaka.celery import app

for name in (
    "catalog.expire_reservations",
    "monitoring.run_checks",
    "analyticsapp.nightly_snapshots",
):
    app.send_task(name)
EOF

# Each process in a process group of its own (beat's child, runserver's reloader),
# so stopping one stops all of it.
set -m
pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  wait || true
}
trap stop INT TERM EXIT

# One process for all three queues, one task at a time: SQLite takes one writer at
# a time anyway.
$BIN/celery -A purelaka worker --beat -Q live,scheduled,bulk \
  --scheduler django_celery_beat.schedulers:DatabaseScheduler \
  --pool solo --concurrency 1 --loglevel INFO \
  --logfile "$DEMO_DIR/worker.log" &
pids+=($!)
echo "Celery worker and beat running (log: .demo/worker.log)"
echo "Serving the demo on http://$ADDRESS (Ctrl-C stops the server and the worker)"
$PY manage.py runserver "$ADDRESS" &
pids+=($!)
wait -n || true
