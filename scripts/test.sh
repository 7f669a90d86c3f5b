#!/usr/bin/env bash
# Every gate, in order; a summary at the end; exit 1 if any gate failed.
# CI=true makes PostgreSQL required (its absence fails the run).
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
PY=$BIN/python
export PAYMENTS_USE_STRIPE=0
unset DJANGO_SETTINGS_MODULE DATABASE_URL

scripts/ensure_system.sh

declare -a names results
failed=0
gate() {
  local name=$1; shift
  echo
  echo "=== gate: $name"
  local start=$SECONDS
  if "$@"; then
    results+=("ok      $name ($((SECONDS - start))s)")
  else
    results+=("FAILED  $name ($((SECONDS - start))s)")
    failed=1
  fi
}
note() { results+=("$1"); }

gate "ruff check" $BIN/ruff check .
gate "ruff format --check" $BIN/ruff format --check .
gate "manage.py check" $PY manage.py check --fail-level WARNING
gate "makemigrations --check" $PY manage.py makemigrations --check --dry-run
gate "rbac matrix up to date" $PY manage.py rbac_matrix --check
pg_up() {
  $PY - <<'PYEOF'
import sys, psycopg
try:
    psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", connect_timeout=3).close()
except Exception as exc:
    print(f"PostgreSQL not reachable: {exc}".splitlines()[0])
    sys.exit(1)
PYEOF
}
# Both legs on two workers (this machine has two cores; each worker has its own
# test database). Serially they took 6 and 10 minutes, beyond make test's budget.
# The browser journeys run once, on PostgreSQL (the production database) when it is
# up, else on SQLite: twice they took make test past its budget.
if pg_up; then
  gate "tests on SQLite (the browser journeys run on PostgreSQL)" \
    $PY -m pytest -n 2 -m "not demo_dates and not browser"
  gate "tests on PostgreSQL" $PY -m pytest -n 2 --ds=purelaka.settings_postgres --create-db
  gate "backup -> restore drill (PostgreSQL): checks pass, KPI export identical" \
    scripts/restore_drill.sh
  gate "bench-quick (20,000 orders): invariants, never timings" \
    $PY bench/run.py --quick
elif [ "${CI:-}" = "true" ]; then
  gate "tests on SQLite" $PY -m pytest -n 2
  gate "tests on PostgreSQL (required under CI)" false
else
  gate "tests on SQLite" $PY -m pytest -n 2
  note "SKIPPED tests on PostgreSQL and the restore drill (not reachable; required when CI=true)"
fi

operator_gate() {
  # The default demo shop, freshly seeded through the real pipeline, has no
  # integrity issue (its open disputes are attention items: docs/runbook.md).
  local db
  db=$(mktemp -d)/operator-gate.sqlite3
  DATABASE_URL="sqlite:///$db" $PY manage.py migrate --noinput -v0 &&
  DATABASE_URL="sqlite:///$db" $PY manage.py seed_demo >/dev/null &&
  DATABASE_URL="sqlite:///$db" $PY manage.py run_checks --fail-on-issues
  local rc=$?
  rm -rf "$(dirname "$db")"
  return $rc
}
gate "operator gate: seed_demo (default) + run_checks --fail-on-issues" operator_gate
# The default demo seeded at 13 dates over a year (DST days, month ends, 29 February,
# New Year): the gate passes on each and the books are the same up to the date shift.
# Minutes of seeding, so out of the two main legs (pyproject.toml's -m) and run here,
# SQLite only, its two groups in parallel.
gate "demo on any date: seed_demo at 13 dates (SQLite)" \
  $PY -m pytest -m demo_dates -n 2 -q demo/tests/test_demo_dates.py

deploy_check() {
  DJANGO_SETTINGS_MODULE=purelaka.settings_prod \
  DJANGO_SECRET_KEY="gate-only-$(head -c 48 /dev/urandom | base64 | tr -d '/+=')" \
  DJANGO_ALLOWED_HOSTS=shop.example.com \
  DATABASE_URL=postgres://postgres@127.0.0.1:5432/purelaka \
  PAYMENTS_USE_STRIPE=1 STRIPE_SECRET_KEY=sk_test_gate STRIPE_PUBLISHABLE_KEY=pk_test_gate \
  STRIPE_WEBHOOK_SECRET=whsec_gate_only \
    $PY manage.py check --deploy --fail-level WARNING
}
gate "check --deploy (settings_prod)" deploy_check

compose_check() {
  if ! command -v docker-compose >/dev/null; then
    echo "docker-compose is not installed"; return 1
  fi
  local f ok=0
  for f in docker-compose.yml docker-compose.prod.yml; do
    docker-compose --env-file .env.example -f "$f" config -q && echo "$f: valid" || ok=1
  done
  return $ok
}
gate "compose files valid" compose_check

# pip-audit: a pass only when every package was audited. Here its vulnerability
# service is often out of reach; that is reported as "not audited", never a pass.
audit_out=$(timeout 180 $BIN/pip-audit --strict --progress-spinner off 2>&1)
audit_rc=$?
echo
echo "=== gate: pip-audit"
echo "$audit_out" | tail -n 5
if [ $audit_rc -eq 0 ]; then
  results+=("ok      pip-audit (every package audited, no known vulnerability)")
elif echo "$audit_out" | grep -qiE "Found [0-9]+ known vulnerabilit"; then
  results+=("FAILED  pip-audit (known vulnerabilities)")
  failed=1
else
  note "NOT AUDITED pip-audit (vulnerability service unreachable: nothing was checked)"
fi

echo
echo "=== summary"
printf '%s\n' "${results[@]}"
echo "make test took $((SECONDS / 60)) min $((SECONDS % 60)) s (budget: 15 min)"
exit $failed
