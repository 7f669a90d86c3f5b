#!/usr/bin/env bash
# The restore drill (CI): seed a database, back it up with scripts/backup.sh,
# restore it with scripts/restore.sh into a second database, and prove the copy is
# the same: identical rows in every table, identical sequences, checks passing, and
# a byte-identical KPI summary export. Both drill databases are dropped on exit.
#
#   scripts/restore_drill.sh [--help]
#
# Environment: DRILL_SERVER_URL (default postgres://postgres@127.0.0.1:5432),
# DRILL_AS_OF (the KPI export's --to date; default yesterday, UTC), PYTHON.
# Exit status 0 only if every step passed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
  sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
[[ $# -eq 0 ]] || { echo "restore_drill.sh: error: unexpected argument '$1' (see --help)" >&2; exit 1; }

SERVER=${DRILL_SERVER_URL:-postgres://postgres@127.0.0.1:5432}
SERVER=${SERVER%/}
SRC=purelaka_drill_src
DST=purelaka_drill_dst
PY=${PYTHON:-$ROOT/.venv/bin/python}
# One date for both exports: kpi_summary's window otherwise ends "yesterday",
# and a drill that crosses midnight would compare two different windows.
AS_OF=${DRILL_AS_OF:-$(date -u -d yesterday +%F)}
WORK=$(mktemp -d -t purelaka-drill.XXXXXX)
export PAYMENTS_USE_STRIPE=0 PGCONNECT_TIMEOUT=${PGCONNECT_TIMEOUT:-10}
unset DJANGO_SETTINGS_MODULE DATABASE_URL

manage() {
  local db=$1; shift
  DJANGO_SETTINGS_MODULE=purelaka.settings_postgres DATABASE_URL="$SERVER/$db" \
    "$PY" manage.py "$@"
}
psql_on() {
  local db=$1; shift
  PGOPTIONS="-c client_min_messages=warning" psql --no-psqlrc --no-password --quiet --tuples-only --no-align \
    -v ON_ERROR_STOP=1 --dbname="$SERVER/$db" "$@"
}
drop_db() { psql_on postgres -v db="$1" <<<'DROP DATABASE IF EXISTS :"db" WITH (FORCE)'; }

passed=0
cleanup() {
  local rc=$?
  echo
  echo "=== cleanup"
  for db in "$SRC" "$DST"; do
    if drop_db "$db" 2>/dev/null; then
      echo "dropped $db"
    else
      echo "could not drop $db: drop it by hand" >&2
    fi
  done
  if ((passed)); then
    rm -rf -- "$WORK"
  else
    echo "kept $WORK (exports and dump) for inspection"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------
# The steps. Each runs in a subshell under `set -e`; they pass files, not variables.

create_and_migrate() {
  drop_db "$SRC"
  psql_on postgres -v db="$SRC" <<<'CREATE DATABASE :"db" TEMPLATE template0'
  echo "created $SRC"
  manage "$SRC" migrate --noinput | tail -n 3
}

seed() {
  manage "$SRC" seed_demo --customers 20 --days 30
}

run_checks_on() {
  local db=$1 out
  if ! out=$(manage "$db" help run_checks 2>&1); then
    if grep -q "Unknown command" <<<"$out"; then
      echo "run_checks not available: skipped"
      return 0
    fi
    echo "$out" | tail -n 5
    return 1
  fi
  manage "$db" run_checks --fail-on-issues
}

export_kpis() {
  local db=$1 out=$2
  manage "$db" export_csv kpi_summary --to "$AS_OF" --out "$out"
  local lines
  lines=$(wc -l <"$out")
  ((lines > 1)) || { echo "$out holds no rows"; return 1; }
}

backup() {
  BACKUP_DIR="$WORK/backups" DATABASE_URL="$SERVER/$SRC" BACKUP_KEEP=14 \
    scripts/backup.sh
  local dumps=("$WORK/backups/$SRC"-*.dump)
  [[ ${#dumps[@]} -eq 1 && -s ${dumps[0]} ]] || { echo "expected one dump in $WORK/backups"; return 1; }
}

restore() {
  local dumps=("$WORK/backups/$SRC"-*.dump)
  scripts/restore.sh --force "${dumps[0]}" "$SERVER/$DST"
}

# Every table's row count and an MD5 of its sorted rows, and every sequence's
# position: the restored copy must match the source exactly.
fingerprint() {
  psql_on "$1" <<'SQL'
SELECT format('table %s rows=%s md5=%s', t.table_name,
  (xpath('/row/n/text()', x))[1]::text, (xpath('/row/h/text()', x))[1]::text)
FROM information_schema.tables t,
  LATERAL query_to_xml(format(
    $q$SELECT count(*) AS n, md5(coalesce(string_agg(fp_row::text, E'\n' ORDER BY fp_row::text),
       '')) AS h FROM %I.%I fp_row$q$, t.table_schema, t.table_name), false, true, '') AS x
WHERE t.table_schema = 'public' AND t.table_type = 'BASE TABLE'
UNION ALL
SELECT format('sequence %s last_value=%s', sequencename, coalesce(last_value::text, 'unused'))
FROM pg_sequences WHERE schemaname = 'public'
ORDER BY 1;
SQL
}

compare_fingerprints() {
  fingerprint "$SRC" >"$WORK/source.fingerprint"
  fingerprint "$DST" >"$WORK/restored.fingerprint"
  if ! cmp -s "$WORK/source.fingerprint" "$WORK/restored.fingerprint"; then
    diff -u "$WORK/source.fingerprint" "$WORK/restored.fingerprint" | head -n 20 || true
    echo "the restored database differs from the source (diff above)"
    return 1
  fi
  local tables rows sequences
  tables=$(grep -c '^table ' "$WORK/source.fingerprint")
  rows=$(sed -n 's/^table .* rows=\([0-9]*\) .*/\1/p' "$WORK/source.fingerprint" | awk '{ n += $1 } END { print n + 0 }')
  sequences=$(grep -c '^sequence ' "$WORK/source.fingerprint" || true)
  ((tables > 0 && rows > 0)) || { echo "the source holds no rows: nothing was proven"; return 1; }
  echo "identical: $tables tables ($rows rows, compared by MD5 of sorted rows), $sequences sequences"
}

compare_exports() {
  local before=$WORK/before.csv after=$WORK/after.csv
  sha256sum "$before" "$after" | sed "s|$WORK/||"
  if cmp "$before" "$after"; then
    echo "before.csv and after.csv are byte-identical ($(wc -l <"$before") lines, --to $AS_OF)"
  else
    diff -u "$before" "$after" | head -n 20 || true
    return 1
  fi
}

# ---------------------------------------------------------------------------

now_ms() { date +%s%3N; }
fmt_ms() { printf '%d.%03ds' $(($1 / 1000)) $(($1 % 1000)); }

results=()
failed=0
drill_start=$(now_ms)
step() {
  local name=$1; shift
  if ((failed)); then
    results+=("not run  $name")
    return 0
  fi
  echo
  echo "=== step: $name"
  local start rc
  start=$(now_ms)
  set +e
  (set -e; "$@")
  rc=$?
  set -e
  local took
  took=$(fmt_ms $(($(now_ms) - start)))
  if ((rc == 0)); then
    echo "--- ok ($took)"
    results+=("ok       $name ($took)")
  else
    echo "--- FAILED (exit $rc, $took)"
    results+=("FAILED   $name ($took)")
    failed=1
  fi
}

echo "restore drill: server ${SERVER#*@}, source $SRC, restored $DST, KPI window to $AS_OF"
echo "work dir: $WORK"
step "a. create + migrate $SRC" create_and_migrate
step "a. seed_demo --customers 20 --days 30" seed
step "b. run_checks --fail-on-issues on $SRC" run_checks_on "$SRC"
step "c. export kpi_summary (before)" export_kpis "$SRC" "$WORK/before.csv"
step "d. backup.sh" backup
step "e. restore.sh --force into $DST" restore
step "e. restored rows and sequences match the source" compare_fingerprints
step "f. run_checks --fail-on-issues on $DST" run_checks_on "$DST"
step "f. export kpi_summary (after)" export_kpis "$DST" "$WORK/after.csv"
step "g. cmp before.csv after.csv" compare_exports

echo
echo "=== restore drill summary"
printf '%s\n' "${results[@]}"
total=$(fmt_ms $(($(now_ms) - drill_start)))
if ((failed)); then
  echo "restore drill FAILED after $total"
  exit 1
fi
passed=1
echo "restore drill passed in $total"
