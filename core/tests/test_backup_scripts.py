"""scripts/backup.sh and scripts/restore.sh, run for real against throwaway
PostgreSQL databases (created, migrated and dropped here; no Django test database)."""

import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
BACKUP = str(ROOT / "scripts" / "backup.sh")
RESTORE = str(ROOT / "scripts" / "restore.sh")
DUMP_NAME = re.compile(r"^purelaka_test_backup_[0-9a-f]{8}-\d{8}T\d{6}Z\.dump$")


def _server_url() -> str:
    """The server the PostgreSQL test run uses, as a URL without a database."""
    db = settings.DATABASES["default"]
    user = quote(db.get("USER") or "postgres", safe="")
    password = db.get("PASSWORD") or ""
    auth = f"{user}:{quote(password, safe='')}" if password else user
    host = quote(db.get("HOST") or "127.0.0.1", safe="")
    return f"postgres://{auth}@{host}:{db.get('PORT') or 5432}"


def _run(*args, **env) -> subprocess.CompletedProcess:
    full_env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "STRIPE_"))
    }
    full_env.update(PAYMENTS_USE_STRIPE="0", PYTHON=sys.executable, **env)
    return subprocess.run(
        [str(a) for a in args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _sql(url: str, query: str) -> str:
    result = _run("psql", "--no-psqlrc", "-qAt", "-v", "ON_ERROR_STOP=1",
                  "-d", url, "-c", query)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture(scope="module")
def databases():
    """(server URL, migrated source database name, spare target name); both are
    dropped afterwards, whatever happened."""
    if not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        pytest.skip("needs the PostgreSQL client tools (pg_dump, pg_restore)")
    server = _server_url()
    source = f"purelaka_test_backup_{secrets.token_hex(4)}"
    target = f"{source}_restored"
    try:
        _sql(f"{server}/postgres", f'CREATE DATABASE "{source}" TEMPLATE template0')
        migrated = _run(
            sys.executable, "manage.py", "migrate", "--noinput",
            DJANGO_SETTINGS_MODULE="purelaka.settings_postgres",
            DATABASE_URL=f"{server}/{source}",
        )  # fmt: skip
        assert migrated.returncode == 0, migrated.stderr[-2000:]
        _sql(
            f"{server}/{source}",
            "INSERT INTO auth_group (name) VALUES "
            "('backup-test-1'), ('backup-test-2'), ('backup-test-3')",
        )
        yield server, source, target
    finally:
        for name in (source, target):
            _sql(f"{server}/postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _backup(server, source, backup_dir, **env) -> Path:
    url = f"{server}/{source}"
    result = _run(BACKUP, DATABASE_URL=url, BACKUP_DIR=backup_dir, **env)
    assert result.returncode == 0, result.stderr
    wrote = re.search(r"^backup\.sh: wrote (\S+) ", result.stdout, re.MULTILINE)
    assert wrote, result.stdout
    assert "verified with pg_restore --list" in result.stdout
    return Path(wrote.group(1))


def test_backup_writes_a_verified_dump_and_keeps_the_newest(databases, tmp_path):
    server, source, _ = databases
    backup_dir = tmp_path / "not-yet-created"

    dumps = [_backup(server, source, backup_dir, BACKUP_KEEP="2") for _ in range(3)]

    assert all(DUMP_NAME.match(d.name) for d in dumps), dumps
    assert len(set(dumps)) == 3  # one name per second, never overwritten
    remaining = sorted(p.name for p in backup_dir.iterdir())
    assert remaining == [d.name for d in dumps[1:]]  # the oldest was deleted
    listing = _run("pg_restore", "--list", dumps[-1])
    assert listing.returncode == 0, listing.stderr
    assert "TABLE DATA public auth_group" in listing.stdout


def test_backup_fails_in_one_line_when_the_database_is_unreachable(tmp_path):
    result = _run(
        BACKUP,
        DATABASE_URL="postgres://postgres@127.0.0.1:1/purelaka",
        BACKUP_DIR=tmp_path,
    )
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("backup.sh: error: pg_dump of ")
    assert list(tmp_path.iterdir()) == []  # no partial dump left behind


def test_restore_round_trip_and_refusal_of_a_non_empty_target(databases, tmp_path):
    server, source, target = databases
    dump = _backup(server, source, tmp_path)
    count = "SELECT count(*) FROM auth_group"
    expected = _sql(f"{server}/{source}", count)
    assert int(expected) >= 3

    restored = _run(RESTORE, dump, f"{server}/{target}")
    assert restored.returncode == 0, restored.stderr
    assert "migrations: all" in restored.stdout
    assert _sql(f"{server}/{target}", count) == expected

    # Tamper with the copy: a refused restore must leave it exactly as it is.
    _sql(f"{server}/{target}", "DELETE FROM auth_group WHERE name = 'backup-test-1'")
    refused = _run(RESTORE, dump, f"{server}/{target}")
    assert refused.returncode != 0
    assert refused.stderr.count("\n") == 1, refused.stderr
    assert refused.stderr.startswith("restore.sh: error: refusing to restore into")
    assert "--force" in refused.stderr
    assert int(_sql(f"{server}/{target}", count)) == int(expected) - 1

    forced = _run(RESTORE, "--force", dump, f"{server}/{target}")
    assert forced.returncode == 0, forced.stderr
    assert _sql(f"{server}/{target}", count) == expected
