#!/usr/bin/env bash
# Restore a custom-format dump (from scripts/backup.sh) into a database, then check
# that Django sees every migration applied. `scripts/restore.sh --help` for details.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ME=restore.sh

usage() {
  cat <<EOF
Usage: scripts/restore.sh [--force] DUMPFILE [TARGET_DATABASE_URL]

Restores DUMPFILE (pg_dump -Fc, as scripts/backup.sh writes) into the target
database: TARGET_DATABASE_URL, else DATABASE_URL, else
postgres://postgres@127.0.0.1:5432/purelaka.

  - the dump is checked with \`pg_restore --list\` before the target is touched;
  - a missing target database is created (from template0);
  - a target that already holds tables is refused unless --force is given, which
    drops it (disconnecting its sessions) and creates it again;
  - pg_restore runs with --no-owner --exit-on-error --single-transaction, so a
    failed restore leaves the target empty, never half-restored;
  - afterwards \`manage.py showmigrations --plan\` (settings_postgres, pointed at the
    target) must list no unapplied migration: a dump from older code restores, but
    the script then exits non-zero and says to run \`manage.py migrate\`.

Options:
  --force    drop and recreate a non-empty target database
  -h, --help this text

Environment: DATABASE_URL (default target), PYTHON (default $ROOT/.venv/bin/python),
PGCONNECT_TIMEOUT (default 10). The server's maintenance database "postgres" is
used to create and drop the target. Exit status: 0 on success, 1 on any failure.
EOF
}

die() {
  echo "$ME: error: $*" >&2
  exit 1
}

first_line() { grep -m1 -v '^[[:space:]]*$' "$1" 2>/dev/null | sed -E 's/^pg_[a-z]+: //; s/^(psql:[^ ]* )?(error|ERROR): +//' || true; }

force=0
positional=()
for arg in "$@"; do
  case $arg in
    -h | --help) usage; exit 0 ;;
    --force) force=1 ;;
    -*) die "unknown option '$arg' (see --help)" ;;
    *) positional+=("$arg") ;;
  esac
done
((${#positional[@]} >= 1)) || die "no DUMPFILE given (usage: scripts/restore.sh [--force] DUMPFILE [TARGET_DATABASE_URL])"
((${#positional[@]} <= 2)) || die "too many arguments (see --help)"
dumpfile=${positional[0]}
target_url=${positional[1]:-${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/purelaka}}
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
export PGCONNECT_TIMEOUT=${PGCONNECT_TIMEOUT:-10}

for tool in pg_restore psql; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found: install the PostgreSQL client tools"
done
[[ -x $PYTHON ]] || die "no Python at $PYTHON (make install, or set PYTHON)"

# The target URL as Django reads it -> libpq URIs for it and for the maintenance
# database on the same server, its name, and a label without the password.
case $target_url in
  postgres://* | postgresql://* | pgsql://* | postgis://*) ;;
  *) die "the target must be a postgres:// URL" ;;
esac
rest=${target_url#*://}
query=""
if [[ $rest == *\?* ]]; then query="?${rest#*\?}"; rest=${rest%%\?*}; fi
authority=${rest%%/*}
dbname=""
[[ $rest == */* ]] && dbname=${rest#*/}
dbname=$(printf '%b' "${dbname//%/\\x}")
[[ -n $dbname && $dbname != */* ]] || die "the target URL names no database"
target_uri="postgresql://$rest$query"
admin_uri="postgresql://$authority/postgres$query"
hostpart=${authority##*@}
userpart=""
[[ $authority == *@* ]] && userpart="${authority%@*}"
label="${userpart%%:*}${userpart:+@}$hostpart/$dbname"

errors=$(mktemp)
trap 'rm -f -- "$errors"' EXIT

# psql with variables (:'name' / :"name" quote safely); SQL on standard input.
sql() {
  local uri=$1; shift
  psql --no-psqlrc --no-password --quiet --tuples-only --no-align \
    -v ON_ERROR_STOP=1 -v db="$dbname" --dbname="$uri" "$@" 2>"$errors"
}

# 1. The dump: present, readable, a custom-format archive.
[[ -f $dumpfile && -r $dumpfile ]] || die "no readable dump file at $dumpfile"
if ! listing=$(pg_restore --list "$dumpfile" 2>"$errors"); then
  die "$dumpfile is not a readable custom-format dump: $(first_line "$errors")"
fi
entries=$(grep -c '^[0-9]' <<<"$listing" || true)
echo "$ME: $dumpfile is a valid dump ($entries entries)"

# 2. The target: created if missing, refused if it holds tables (unless --force).
exists=$(sql "$admin_uri" <<<"SELECT count(*) FROM pg_database WHERE datname = :'db'") \
  || die "cannot reach the server for $label: $(first_line "$errors")"
if ((exists)); then
  tables=$(sql "$target_uri" <<'SQL'
SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%'
SQL
  ) || die "cannot inspect $label: $(first_line "$errors")"
  if ((force)); then
    case $dbname in
      postgres | template0 | template1) die "refusing to drop the system database $dbname" ;;
    esac
    sql "$admin_uri" <<<'DROP DATABASE :"db" WITH (FORCE)' \
      || die "cannot drop $label: $(first_line "$errors")"
    echo "$ME: --force: dropped $label ($tables relations)"
    exists=0
  elif ((tables > 0)); then
    die "refusing to restore into $label: it is not empty ($tables relations); pass --force to drop and recreate it"
  else
    echo "$ME: $label exists and is empty: restoring into it"
  fi
fi
if ((!exists)); then
  sql "$admin_uri" <<<'CREATE DATABASE :"db" TEMPLATE template0' \
    || die "cannot create $label: $(first_line "$errors")"
  echo "$ME: created $label"
fi

# 3. The restore: all or nothing.
start=$(date +%s)
if ! pg_restore --no-owner --exit-on-error --single-transaction --no-password \
  --dbname="$target_uri" "$dumpfile" 2>"$errors"; then
  die "pg_restore into $label failed (nothing was restored): $(first_line "$errors")"
fi
restored=$(sql "$target_uri" <<'SQL'
SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
SQL
) || die "cannot inspect $label after the restore: $(first_line "$errors")"
echo "$ME: restored $dumpfile into $label ($restored tables in $(($(date +%s) - start))s)"

# 4. Django's view of it: every migration this code knows must be applied.
if ! plan=$(cd "$ROOT" && DJANGO_SETTINGS_MODULE=purelaka.settings_postgres \
  DATABASE_URL=$target_url "$PYTHON" manage.py showmigrations --plan 2>"$errors"); then
  die "manage.py showmigrations on $label failed: $(grep -v '^[[:space:]]*$' "$errors" | tail -n1)"
fi
applied=$(grep -c '^\[X\]' <<<"$plan" || true)
unapplied=$(grep -c '^\[ \]' <<<"$plan" || true)
if ((unapplied > 0)); then
  first=$(grep -m1 '^\[ \]' <<<"$plan" | sed 's/^\[ \] *//')
  die "restored, but $unapplied migrations are not applied in $label (first: $first): the dump predates this code; run manage.py migrate against it"
fi
((applied > 0)) || die "restored, but $label has no applied migrations: not a PureLaka dump?"
echo "$ME: migrations: all $applied applied"
echo "$ME: ok"
