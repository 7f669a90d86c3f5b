"""The benchmark suite: `make bench` (1,000,000 orders) and `make bench-quick`.

    python bench/run.py [--orders N] [--quick] [--only B1,B3] [--keep]

Each benchmark prints its figure, the limit it is held against (measured on this
machine in this run) and the ratio. Timings are reported, never failed on; the
correctness invariants (books that pass every check, snapshots equal to the
hand-written SQL, exports byte-identical to COPY, exactly one payment per order,
stock exact) fail the run with exit 1. Results go to bench/results/.

The databases (`purelaka_bench`, and `purelaka_bench_small` for B2's small shop)
are created and dropped by the suite; the dev database is never touched.
"""

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
LARGE_DB, SMALL_DB = "purelaka_bench", "purelaka_bench_small"


def log(message: str):
    print(message, flush=True)


def pg_admin(sql: str):
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def database_create(name: str):
    pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    pg_admin(f'CREATE DATABASE "{name}"')
    # SSD storage, as docs/deployment.md recommends: random reads cost about what
    # sequential ones do (PostgreSQL's default of 4 models spinning disks).
    pg_admin(f'ALTER DATABASE "{name}" SET random_page_cost = 1.1')


def database_drop(name: str):
    pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def use_database(name: str):
    """Point Django's connection at another benchmark database."""
    from django.db import connection

    connection.close()
    connection.settings_dict["NAME"] = name


def django_setup(name: str):
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "purelaka.settings_postgres"
    os.environ["DATABASE_URL"] = f"{PG}/{name}"
    os.environ["PAYMENTS_USE_STRIPE"] = "0"
    os.environ.setdefault("DJANGO_DEBUG", "0")
    import django

    django.setup()


def migrate_and_generate(name: str, orders: int, seed: int) -> dict:
    from django.core.management import call_command

    from bench.generate import generate

    use_database(name)
    started = time.monotonic()
    call_command("migrate", verbosity=0, interactive=False)
    log(f"[{name}] migrated in {time.monotonic() - started:.1f} s; generating …")
    plan = generate(orders=orders, seed=seed, log=log)
    rows = sum(plan.rows.values())
    log(
        f"[{name}] generated {orders:,} orders ({rows:,} rows) in {plan.seconds:.1f} s "
        f"({rows / plan.seconds:,.0f} rows/s)"
    )
    return {
        "orders": orders,
        "rows": dict(plan.rows),
        "seconds": round(plan.seconds, 1),
        "goal_seconds": 300,
        "first_day": plan.first_day.isoformat(),
        "last_day": plan.last_day.isoformat(),
    }


def checks_pass() -> dict:
    """The operator gate on the generated shop: every data-quality check, no issue."""
    from monitoring.models import DataQualityIssue
    from monitoring.services import checks_run

    started = time.monotonic()
    checks_run(actor_label="bench")
    open_issues = list(
        DataQualityIssue.objects.exclude(status="resolved").values_list(
            "check_name", "fingerprint"
        )[:20]
    )
    return {
        "seconds": round(time.monotonic() - started, 1),
        "open_issues": [f"{c} {f}" for c, f in open_issues],
        "ok": not open_issues,
    }


def machine() -> dict:
    import psycopg

    with psycopg.connect(f"{PG}/postgres") as conn:
        pg_version = conn.execute("SHOW server_version").fetchone()[0]
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory / 2**30, 1),
        "python": platform.python_version(),
        "postgresql": pg_version,
        "platform": platform.platform(),
    }


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--orders", type=int, default=int(os.environ.get("BENCH_ORDERS", 1_000_000))
    )
    parser.add_argument("--quick", action="store_true", help="20,000 orders")
    parser.add_argument("--only", default="B1,B2,B3,B4")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="measure the databases a --keep run left (no generation)",
    )
    args = parser.parse_args(argv)
    orders = 20_000 if args.quick else args.orders
    small_orders = 2_000 if args.quick else 20_000
    only = {b.strip().upper() for b in args.only.split(",")}
    if orders < 1000:
        parser.error("--orders must be at least 1000")

    try:
        pg_admin("SELECT 1")
    except Exception as exc:  # any failure to connect is the message
        print(f"bench: PostgreSQL at {PG} is not reachable: {exc}".splitlines()[0])
        return 2
    django_setup(LARGE_DB)
    from bench import b1_snapshots

    started = time.monotonic()
    result = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", "bench/run.py", *(argv or sys.argv[1:])]),
        "commit": git_commit(),
        "machine": machine(),
        "orders": orders,
        "benchmarks": {},
    }
    failures = []
    RESULTS.mkdir(exist_ok=True)
    name = "quick" if args.quick else f"{orders}"
    path = RESULTS / f"bench-{name}.json"

    def save():
        result["seconds"] = round(time.monotonic() - started, 1)
        result["failures"] = failures
        path.write_text(json.dumps(result, indent=2, default=str) + "\n")

    try:
        if args.reuse:
            use_database(LARGE_DB)
            result["generator"] = {"reused": True}
        else:
            database_create(LARGE_DB)
            result["generator"] = migrate_and_generate(LARGE_DB, orders, args.seed)
        b1 = b1_snapshots.run(log=log)
        result["benchmarks"]["B1"] = b1
        if not b1["invariants"]["ok"]:
            failures.append("B1: the snapshots differ from the hand-written SQL")
        checks = checks_pass()
        result["generator"]["checks"] = checks
        save()
        log(f"[checks] run_checks on the generated shop: {checks}")
        if not checks["ok"]:
            failures.append(f"checks: {len(checks['open_issues'])} issue(s) open")
        if "B3" in only:
            from bench import b3_export

            b3 = b3_export.run(database=LARGE_DB, pg=PG, log=log)
            result["benchmarks"]["B3"] = b3
            save()
            if not b3["invariants"]["ok"]:
                failures.append("B3: the export differs from COPY")
        if "B2" in only:
            from bench import b2_dashboard

            if args.reuse:
                use_database(SMALL_DB)
            else:
                database_create(SMALL_DB)
                migrate_and_generate(SMALL_DB, small_orders, args.seed)
                b1_snapshots.build_all()
            b2 = b2_dashboard.run(
                large=LARGE_DB,
                small=SMALL_DB,
                large_orders=orders,
                small_orders=small_orders,
                use_database=use_database,
                log=log,
            )
            result["benchmarks"]["B2"] = b2
            save()
            log(b2_dashboard.summary(b2))
            if not b2["invariants"]["ok"]:
                failures.append("B2: query counts differ between sizes")
        if "B4" in only:
            from bench import b4_webhooks

            b4 = b4_webhooks.run(
                f"{PG}/{LARGE_DB}", events=20_000 if not args.quick else 2_000, log=log
            )
            result["benchmarks"]["B4"] = b4
            if not b4.get("ok"):
                failures.append(f"B4: invariants broken: {b4.get('invariants')}")
    finally:
        from django.db import connection

        connection.close()
        if not args.keep:
            database_drop(LARGE_DB)
            database_drop(SMALL_DB)
        save()
    log(f"\nResults: {path.relative_to(ROOT)} ({result['seconds']:.0f} s)")
    for failure in failures:
        log(f"FAILED  {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
