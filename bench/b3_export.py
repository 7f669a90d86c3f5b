"""B3: the orders export through the real view against `COPY … TO STDOUT` in psql.

The view is served by gunicorn (one sync worker, DEBUG off) and downloaded over
HTTP by an analyst; the limit is psql running COPY of the same query, the bytes
going to the same kind of reader. The figure is the throughput ratio (rows/s of
the view over rows/s of psql); the serving worker's peak RSS (VmHWM) is the memory
figure. Invariant: the download is byte-for-byte psql's output under the header,
and its row count and SHA-256 are what the audit row says.
"""

import hashlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import requests

from bench.b4_webhooks import free_port

ROOT = Path(__file__).resolve().parent.parent
GOAL_RATIO = 0.7
GOAL_RSS_MB = 150
PASSWORD = "bench-analyst-pass-1"  # noqa: S105 (a throwaway benchmark user)
BLOCK = 256 * 1024


def _analyst():
    from accounts.models import User
    from accounts.roles import Role
    from accounts.services import user_create

    email = "analyst@bench.test"
    if not User.objects.filter(email=email).exists():
        user_create(email=email, password=PASSWORD, roles=[Role.ANALYST])
    return email


def _serve(database_url: str, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(
        DJANGO_SETTINGS_MODULE="purelaka.settings_postgres",
        DATABASE_URL=database_url,
        DJANGO_DEBUG="0",
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        PAYMENTS_USE_STRIPE="0",
    )
    gunicorn = Path(sys.executable).with_name("gunicorn")
    process = subprocess.Popen(
        [str(gunicorn), "purelaka.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--timeout", "600"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(
                f"http://127.0.0.1:{port}/monitoring/healthz/", timeout=5
            ).ok:
                return process
        except requests.ConnectionError:
            time.sleep(0.25)
    process.kill()
    raise RuntimeError("gunicorn did not start for B3")


def _worker_hwm_mb(master: int) -> float:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    peak = 0
    for pid in children:
        status = Path(f"/proc/{pid}/status").read_text()
        peak = max(peak, int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)))
    return peak / 1024


def _sign_in(base: str, email: str) -> requests.Session:
    session = requests.Session()
    session.get(f"{base}/account/login/", timeout=30)
    response = session.post(
        f"{base}/account/login/",
        data={
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
            "username": email,
            "password": PASSWORD,
        },
        headers={"Referer": f"{base}/account/login/"},
        allow_redirects=False,
        timeout=30,
    )
    if response.status_code != 302:
        raise RuntimeError(
            f"B3: the analyst could not sign in ({response.status_code})"
        )
    return session


def _download(session, url) -> tuple[float, int, str]:
    digest, size = hashlib.sha256(), 0
    started = time.perf_counter()
    with session.get(url, stream=True, timeout=600) as response:
        response.raise_for_status()
        for block in response.iter_content(BLOCK):
            digest.update(block)
            size += len(block)
    return time.perf_counter() - started, size, digest.hexdigest()


def _psql_copy(database: str, sql: str, header: bytes) -> tuple[float, int, str]:
    digest, size = hashlib.sha256(header), len(header)
    started = time.perf_counter()
    process = subprocess.Popen(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-X", "-q",
         "-c", f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)"],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    for block in iter(lambda: process.stdout.read(BLOCK), b""):
        digest.update(block)
        size += len(block)
    if process.wait() != 0:
        raise RuntimeError("psql COPY failed")
    return time.perf_counter() - started, size, digest.hexdigest()


def run(*, database: str, pg: str, log=print, repeat: int = 2) -> dict:
    import psycopg

    from analyticsapp.exports import EXPORTS, Filters
    from audit.models import AuditLog
    from orders.models import Order

    export = EXPORTS["orders"]
    rows = Order.objects.count()
    sql, params = export.rows.copy_sql(Filters())
    with psycopg.connect(f"{pg}/{database}") as conn:
        literal_sql = psycopg.ClientCursor(conn).mogrify(sql, params)
    header = (",".join(export.columns) + "\n").encode()
    email = _analyst()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = _serve(f"{pg}/{database}", port)
    try:
        session = _sign_in(base, email)
        view, limit = [], []
        for _ in range(repeat):
            limit.append(_psql_copy(database, literal_sql, header))
            view.append(_download(session, f"{base}/analytics/exports/orders.csv"))
            log(
                f"[B3]   view {view[-1][0]:.2f} s, psql COPY {limit[-1][0]:.2f} s "
                f"for {rows:,} rows ({view[-1][1] / 2**20:.0f} MiB)"
            )
        rss = _worker_hwm_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    best_view, best_limit = min(view), min(limit)
    view_rps, limit_rps = rows / best_view[0], rows / best_limit[0]
    ratio = view_rps / limit_rps
    audit = AuditLog.objects.filter(
        event_type="analytics.export", target_id="orders"
    ).latest("created_at")
    same_bytes = all(v[2] == best_limit[2] for v in view)
    audited = (
        audit.metadata.get("rows") == rows
        and audit.metadata.get("sha256") == view[-1][2]
    )
    log(
        f"[B3] orders export: view {view_rps:,.0f} rows/s vs psql COPY "
        f"{limit_rps:,.0f} rows/s: ratio {ratio:.2f} (goal >= {GOAL_RATIO}); "
        f"worker peak RSS {rss:.0f} MB (goal <= {GOAL_RSS_MB})"
    )
    return {
        "rows": rows,
        "bytes": best_view[1],
        "view_seconds": [round(v[0], 3) for v in view],
        "psql_copy_seconds": [round(v[0], 3) for v in limit],
        "view_rows_per_second": round(view_rps),
        "limit_rows_per_second": round(limit_rps),
        "ratio": round(ratio, 3),
        "goal_ratio": GOAL_RATIO,
        "worker_peak_rss_mb": round(rss, 1),
        "goal_rss_mb": GOAL_RSS_MB,
        "invariants": {
            "bytes_equal_psql_copy": same_bytes,
            "audited_rows_and_sha256": audited,
            "ok": same_bytes and audited,
        },
    }
