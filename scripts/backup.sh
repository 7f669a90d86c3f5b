#!/usr/bin/env bash
# Back up the PureLaka database: a custom-format pg_dump, verified, with retention.
# Run `scripts/backup.sh --help` for the variables it reads.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ME=backup.sh
export LC_COLLATE=C # dump names sort by their timestamps

usage() {
  cat <<EOF
Usage: scripts/backup.sh [--help]

Dumps the database named by DATABASE_URL with pg_dump in custom format (-Fc) to
BACKUP_DIR/<database>-YYYYmmddTHHMMSSZ.dump, checks the dump reads back with
\`pg_restore --list\`, then keeps only the newest BACKUP_KEEP dumps of that database.

Environment:
  DATABASE_URL   postgres://USER[:PASSWORD]@HOST[:PORT]/NAME
                 (default postgres://postgres@127.0.0.1:5432/purelaka)
  BACKUP_DIR     where dumps go, created if missing (default: $ROOT/backups)
  BACKUP_KEEP    how many dumps of this database to keep, at least 1 (default 14)
  PGCONNECT_TIMEOUT  seconds to wait for the server (default 10)

A dump is written under a hidden temporary name and only renamed into place once
pg_restore has read it back, so retention never counts (or keeps) a broken dump.
Restore one with scripts/restore.sh. Exit status: 0 on success, 1 on any failure.
EOF
}

die() {
  echo "$ME: error: $*" >&2
  exit 1
}

# The first non-empty line of a tool's error output, for a one-line message.
first_line() { grep -m1 -v '^[[:space:]]*$' "$1" 2>/dev/null | sed -E 's/^pg_[a-z]+: //; s/^error: //' || true; }

for arg in "$@"; do
  case $arg in
    -h | --help) usage; exit 0 ;;
    *) die "unexpected argument '$arg' (see --help)" ;;
  esac
done

for tool in pg_dump pg_restore; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found: install the PostgreSQL client tools"
done

DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/purelaka}
BACKUP_DIR=${BACKUP_DIR:-$ROOT/backups}
BACKUP_KEEP=${BACKUP_KEEP:-14}
export PGCONNECT_TIMEOUT=${PGCONNECT_TIMEOUT:-10}

if ! [[ $BACKUP_KEEP =~ ^[0-9]+$ ]] || ((10#$BACKUP_KEEP < 1)); then
  die "BACKUP_KEEP must be a whole number of at least 1, not '$BACKUP_KEEP'"
fi
BACKUP_KEEP=$((10#$BACKUP_KEEP))

# DATABASE_URL as Django reads it -> a libpq URI, the database name, a safe label.
case $DATABASE_URL in
  postgres://* | postgresql://* | pgsql://* | postgis://*) ;;
  *) die "DATABASE_URL must be a postgres:// URL" ;;
esac
rest=${DATABASE_URL#*://}
query=""
if [[ $rest == *\?* ]]; then query="?${rest#*\?}"; rest=${rest%%\?*}; fi
authority=${rest%%/*}
dbname=""
[[ $rest == */* ]] && dbname=${rest#*/}
dbname=$(printf '%b' "${dbname//%/\\x}")
[[ -n $dbname && $dbname != */* ]] || die "DATABASE_URL names no database"
pg_uri="postgresql://$rest$query"
hostpart=${authority##*@}
userpart=""
[[ $authority == *@* ]] && userpart="${authority%@*}"
label="${userpart%%:*}${userpart:+@}$hostpart/$dbname" # never the password

# Files are named after the database, so dumps of two databases in one directory
# never prune each other.
prefix=$(printf '%s' "$dbname" | tr -c 'A-Za-z0-9_.-' '_')

mkdir -p -- "$BACKUP_DIR" 2>/dev/null || die "cannot create BACKUP_DIR $BACKUP_DIR"
[[ -d $BACKUP_DIR && -w $BACKUP_DIR ]] || die "BACKUP_DIR $BACKUP_DIR is not a writable directory"
BACKUP_DIR=$(cd "$BACKUP_DIR" && pwd)

# One name per second: if a dump of this second already exists, wait for the next.
while :; do
  stamp=$(date -u +%Y%m%dT%H%M%SZ)
  final="$BACKUP_DIR/$prefix-$stamp.dump"
  [[ -e $final ]] || break
  sleep 1
done
partial="$BACKUP_DIR/.$prefix-$stamp.dump.partial"
errors=$(mktemp)
cleanup() { rm -f -- "$partial" "$errors"; }
trap cleanup EXIT

start=$(date +%s)
echo "$ME: dumping $label -> $final"
if ! pg_dump --format=custom --no-password --file="$partial" --dbname="$pg_uri" 2>"$errors"; then
  die "pg_dump of $label failed: $(first_line "$errors")"
fi

if ! listing=$(pg_restore --list "$partial" 2>"$errors"); then
  die "the dump does not read back (pg_restore --list): $(first_line "$errors")"
fi
entries=$(grep -c '^[0-9]' <<<"$listing" || true)
tables=$(grep -c ' TABLE DATA ' <<<"$listing" || true)
((entries > 0)) || die "the dump of $label holds no objects: is DATABASE_URL the right database?"
echo "$ME: verified with pg_restore --list: $entries entries, $tables tables with data"

# Hard link, not mv: it fails instead of overwriting if another run took the name.
ln -- "$partial" "$final" 2>"$errors" || die "cannot write $final: $(first_line "$errors")"
rm -f -- "$partial"
size=$(du -h -- "$final" | cut -f1)
echo "$ME: wrote $final ($size in $(($(date +%s) - start))s)"

# Retention: the names sort by time, so everything before the newest KEEP goes.
shopt -s nullglob
dumps=("$BACKUP_DIR/$prefix"-[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z.dump)
shopt -u nullglob
excess=$((${#dumps[@]} - BACKUP_KEEP))
if ((excess > 0)); then
  for old in "${dumps[@]:0:excess}"; do
    rm -f -- "$old" || die "cannot delete old dump $old"
    echo "$ME: retention: deleted $old"
  done
fi
echo "$ME: retention: keeping the newest $((${#dumps[@]} - (excess > 0 ? excess : 0))) of at most $BACKUP_KEEP dumps of $dbname in $BACKUP_DIR"
echo "$ME: ok"
