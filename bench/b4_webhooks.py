"""B4 webhook ingestion: signed payment_intent.succeeded events against the limit.

One gunicorn server with the production settings serves both measurements:

1. the limit: `senders` concurrent clients hammering `GET /monitoring/healthz/`
   (one database round trip per request) for `events` requests → requests/s;
2. the figure: the same clients POSTing `events` signed `payment_intent.succeeded`
   events to `POST /payments/webhook/`, one in five a byte-identical replay of an
   earlier event (same event id) → events/s, status codes, latency.

Set-up writes `events * 4/5` pending orders directly with PostgreSQL COPY, because
16,000 orders through `orders.services.checkout.order_place` would take longer than
the benchmark. The rows have exactly the shape that service, `checkout_start` and the
`checkout.session.completed` handler leave, so the webhook finds what it would find
in production:

- `Order` (pending, `number` PL-XXXXXXXX, `checkout_token`, shipping address,
  subtotal + flat shipping below the free threshold = total, the Checkout Session
  id and the PaymentIntent id that `checkout.session.completed` links);
- its `OrderLine`s (1-2 lines, 1-3 units each, on variants of a fresh benchmark
  product) with prices copied from the catalogue;
- one active `StockReservation` per line, holder `order:<pk>`, expiring after
  `STOCK_RESERVATION_MINUTES` (30);
- its first `OrderStatusChange` ("" → pending, by customer) and the
  `order.placed` and `payment.checkout_started` audit rows.

The benchmark variants get `units ordered + 1000` units as one `received` stock
movement, so stock on hand equals the sum of its movements from the start.
Nothing else in the database is read or changed; the benchmark's rows stay (tagged
`b4-<run>` in slugs, SKUs and e-mails) for whoever drops the database.

Afterwards the database must show: no 5xx; exactly one Payment per order, applied;
every order paid with one pending → paid status change; one StripeEvent per distinct
event id, all processed; each variant's stock on hand = initial − units sold = the
sum of its movements; no active reservation left for those orders; no payment
exception opened.

Run alone against a migrated database:

    .venv/bin/python -m bench.b4_webhooks \\
        --database-url postgres://postgres@127.0.0.1:5432/purelaka_b4dev \\
        --events 20000 --senders 16
"""

import argparse
import datetime as dt
import hashlib
import hmac
import http.client
import itertools
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parent.parent
GOAL_RATIO = 0.25
# A Redis database of the benchmark's own for the queue (flushed before a run).
BROKER = os.environ.get("B4_BROKER", "redis://127.0.0.1:6379/13")
DRAIN_TIMEOUT_SECONDS = 1800
WEBHOOK_PATH = "/payments/webhook/"
HEALTHZ_PATH = "/monitoring/healthz/"
API_VERSION = "2025-03-31.basil"
# What orders.services.checkout does: PL- and 8 characters, no 0/O or 1/I.
NUMBER_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
RESERVATION_MINUTES = 30
SHIPPING_FLAT_PENNIES = 395
FREE_SHIPPING_THRESHOLD_PENNIES = 5000
UNIT_PRICE_PENNIES = 1450
SIZES = ["XS", "S", "M", "L", "XL", "XXL"]
CUSTOMERS = 200
STOCK_HEADROOM = 1000


@dataclass
class BenchOrder:
    pk: int
    number: str
    customer_id: int
    email: str
    subtotal_pennies: int
    shipping_pennies: int
    total_pennies: int
    line_count: int
    checkout_session: str
    payment_intent: str
    charge: str


@dataclass
class BenchData:
    tag: str
    orders: list[BenchOrder]
    variant_ids: list[int]
    initial_stock: dict[int, int]
    units_sold: dict[int, int]


@dataclass
class LoadResult:
    count: int
    seconds: float
    status_codes: dict[str, int]
    latencies_ms: list[float]
    retries: int
    client_cpu_cores: float
    machine_cpu_busy: float
    server_cpu_ms: float = 0.0
    postgres_cpu_ms: float = 0.0

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    log_path: Path
    workers: int
    worker_class: str
    threads: int
    env: dict = field(repr=False, default_factory=dict)


# --------------------------------------------------------------------------- set-up


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _ids(cur, table: str, n: int) -> list[int]:
    """Reserve `n` primary keys from the table's identity sequence."""
    cur.execute(
        "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
        (table, n),
    )
    return [row[0] for row in cur.fetchall()]


def _stripe_id(prefix: str) -> str:
    return f"{prefix}_offline{secrets.token_hex(12)}"


def _assign_numbers(cur, orders: list[BenchOrder]) -> None:
    """Order numbers as checkout mints them, unique against the orders there."""
    wanted = len(orders)
    numbers: set[str] = set()
    while len(numbers) < wanted:
        while len(numbers) < wanted:
            numbers.add(
                "PL-" + "".join(secrets.choice(NUMBER_ALPHABET) for _ in range(8))
            )
        cur.execute(
            "SELECT number FROM orders_order WHERE number = ANY(%s)", (list(numbers),)
        )
        numbers -= {row[0] for row in cur.fetchall()}
    for order, number in zip(orders, list(numbers), strict=True):
        order.number = number


def prepare(conn: psycopg.Connection, *, orders: int, seed: int = 4) -> BenchData:
    """Write the benchmark catalogue, customers and pending orders in one
    transaction (see the module docstring for the shape)."""
    rng = random.Random(seed)
    tag = f"b4-{int(time.time())}-{secrets.token_hex(3)}"
    now = _now()
    expires = now + dt.timedelta(minutes=RESERVATION_MINUTES)
    with conn.transaction(), conn.cursor() as cur:
        # Customers: unusable passwords, in the customer role.
        cur.execute("SELECT id FROM auth_group WHERE name = 'customer'")
        group = cur.fetchone()
        user_ids = _ids(cur, "accounts_user", CUSTOMERS)
        emails = {
            uid: f"{tag}-{i}@bench.purelaka.test" for i, uid in enumerate(user_ids)
        }
        with cur.copy(
            "COPY accounts_user (id, password, is_superuser, email, full_name, "
            "is_staff, is_active, date_joined) FROM STDIN"
        ) as copy:
            for i, uid in enumerate(user_ids):
                copy.write_row(
                    (uid, "!" + secrets.token_hex(20), False, emails[uid],
                     f"Bench Customer {i}", False, True, now)
                )  # fmt: skip
        if group:
            with cur.copy(
                "COPY accounts_user_groups (user_id, group_id) FROM STDIN"
            ) as copy:
                for uid in user_ids:
                    copy.write_row((uid, group[0]))

        # The benchmark product and its variants.
        cur.execute(
            "INSERT INTO catalog_category (name, slug) VALUES (%s, %s) RETURNING id",
            (f"Benchmark {tag}", tag),
        )
        category_id = cur.fetchone()[0]
        product_name = f"Benchmark tee {tag}"
        cur.execute(
            "INSERT INTO catalog_product (created_at, updated_at, name, slug, "
            "description, price_pennies, currency, active, is_preorder, "
            "low_stock_threshold, category_id, billing_interval) VALUES "
            "(%s, %s, %s, %s, '', %s, 'GBP', true, false, 5, %s, '') RETURNING id",
            (now, now, product_name, tag, UNIT_PRICE_PENNIES, category_id),
        )
        product_id = cur.fetchone()[0]
        variant_ids = _ids(cur, "catalog_variant", len(SIZES))
        labels = dict(zip(variant_ids, SIZES, strict=True))
        skus = {vid: f"{tag}-{size}".upper() for vid, size in labels.items()}

        # Orders: 1-2 lines on distinct variants, 1-3 units each.
        order_ids = _ids(cur, "orders_order", orders)
        bench_orders, lines, sold = [], [], dict.fromkeys(variant_ids, 0)
        for pk in order_ids:
            chosen = sorted(rng.sample(variant_ids, rng.choice((1, 1, 2))))
            order_lines = [(vid, rng.randint(1, 3)) for vid in chosen]
            subtotal = sum(q * UNIT_PRICE_PENNIES for _, q in order_lines)
            shipping = (
                0
                if subtotal >= FREE_SHIPPING_THRESHOLD_PENNIES
                else SHIPPING_FLAT_PENNIES
            )
            uid = user_ids[pk % CUSTOMERS]
            bench_orders.append(
                BenchOrder(
                    pk=pk,
                    number="",
                    customer_id=uid,
                    email=emails[uid],
                    subtotal_pennies=subtotal,
                    shipping_pennies=shipping,
                    total_pennies=subtotal + shipping,
                    line_count=len(order_lines),
                    checkout_session=_stripe_id("cs_test"),
                    payment_intent=_stripe_id("pi"),
                    charge=_stripe_id("ch"),
                )
            )
            for vid, qty in order_lines:
                lines.append((pk, vid, qty))
                sold[vid] += qty
        _assign_numbers(cur, bench_orders)
        initial = {vid: sold[vid] + STOCK_HEADROOM for vid in variant_ids}

        with cur.copy(
            "COPY catalog_variant (id, created_at, updated_at, sku, option_values, "
            "price_override_pennies, stock_on_hand, active, product_id) FROM STDIN"
        ) as copy:
            for vid in variant_ids:
                copy.write_row(
                    (vid, now, now, skus[vid], json.dumps({"size": labels[vid]}),
                     None, initial[vid], True, product_id)
                )  # fmt: skip
        with cur.copy(
            "COPY catalog_stockmovement (delta, reason, note, reference, created_at, "
            "actor_id, variant_id) FROM STDIN"
        ) as copy:
            for vid in variant_ids:
                copy.write_row(
                    (initial[vid], "received", "B4 benchmark stock", "", now, None, vid)
                )

        with cur.copy(
            "COPY orders_order (id, created_at, updated_at, number, email, status, "
            "refund_status, currency, subtotal_pennies, shipping_pennies, "
            "total_pennies, refunded_pennies, checkout_token, shipping_name, "
            "shipping_line1, shipping_line2, shipping_city, shipping_postcode, "
            "shipping_country, tracking_reference, carrier, "
            "stripe_checkout_session_id, "
            "stripe_payment_intent, stripe_charge_id, paid_at, fulfilled_at, "
            "canceled_at, refunded_at, customer_id) FROM STDIN"
        ) as copy:
            for o in bench_orders:
                copy.write_row(
                    (o.pk, now, now, o.number, o.email, "pending", "none", "GBP",
                     o.subtotal_pennies, o.shipping_pennies, o.total_pennies, 0,
                     secrets.token_urlsafe(24), f"Bench Customer {o.customer_id}",
                     "1 Benchmark Street", "", "London", "E1 6AN", "GB", "", "",
                     o.checkout_session, o.payment_intent, "", None, None, None,
                     None, o.customer_id)
                )  # fmt: skip
        with cur.copy(
            "COPY orders_orderline (product_name, variant_label, sku, "
            "unit_price_pennies, quantity, line_total_pennies, is_preorder, "
            "order_id, variant_id) FROM STDIN"
        ) as copy:
            for pk, vid, qty in lines:
                copy.write_row(
                    (product_name, labels[vid], skus[vid], UNIT_PRICE_PENNIES, qty,
                     UNIT_PRICE_PENNIES * qty, False, pk, vid)
                )  # fmt: skip
        with cur.copy(
            "COPY catalog_stockreservation (holder, quantity, status, expires_at, "
            "created_at, closed_at, variant_id) FROM STDIN"
        ) as copy:
            for pk, vid, qty in lines:
                copy.write_row((f"order:{pk}", qty, "active", expires, now, None, vid))
        with cur.copy(
            "COPY orders_orderstatuschange (from_status, to_status, by, note, "
            "created_at, actor_id, order_id) FROM STDIN"
        ) as copy:
            for o in bench_orders:
                copy.write_row(
                    ("", "pending", "customer", "", now, o.customer_id, o.pk)
                )
        with cur.copy(
            "COPY audit_auditlog (actor_label, actor_role, event_type, target_type, "
            "target_id, metadata, ip_address, request_id, created_at, actor_id) "
            "FROM STDIN"
        ) as copy:
            for o in bench_orders:
                placed = {
                    "number": o.number,
                    "total_pennies": o.total_pennies,
                    "lines": o.line_count,
                }
                copy.write_row(
                    (o.email, "customer", "order.placed", "orders.order", str(o.pk),
                     json.dumps(placed), "127.0.0.1", secrets.token_hex(16), now,
                     o.customer_id)
                )  # fmt: skip
                started = {"session": o.checkout_session}
                copy.write_row(
                    (o.email, "customer", "payment.checkout_started", "orders.order",
                     str(o.pk), json.dumps(started), "127.0.0.1",
                     secrets.token_hex(16), now, o.customer_id)
                )  # fmt: skip
    with conn.cursor() as cur:
        cur.execute(
            "ANALYZE orders_order, orders_orderline, catalog_stockreservation, "
            "catalog_variant"
        )
    return BenchData(
        tag=tag,
        orders=bench_orders,
        variant_ids=variant_ids,
        initial_stock=initial,
        units_sold=sold,
    )


# -------------------------------------------------------------------------- events


def intent_succeeded(order: BenchOrder, *, created: int) -> dict:
    """The event Stripe sends when the order's PaymentIntent succeeds (the shape
    of payments.gateway.OfflineGateway.pay and Stripe's own)."""
    return {
        "id": _stripe_id("evt"),
        "object": "event",
        "api_version": API_VERSION,
        "created": created,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": "payment_intent.succeeded",
        "data": {
            "object": {
                "id": order.payment_intent,
                "object": "payment_intent",
                "amount": order.total_pennies,
                "amount_received": order.total_pennies,
                "currency": "gbp",
                "created": created,
                "status": "succeeded",
                "latest_charge": order.charge,
                "metadata": {"order_id": str(order.pk), "order_number": order.number},
                "receipt_email": order.email,
            }
        },
    }


def delivery_plan(
    orders: list[BenchOrder], events: int, *, seed: int = 4
) -> tuple[list[bytes], int]:
    """The bodies to POST, in order: after every four new events, a byte-identical
    replay of an earlier one (Stripe delivers at least once). Returns the bodies
    and the number of distinct events."""
    rng = random.Random(seed)
    created = int(time.time())
    originals: list[bytes] = []
    plan: list[bytes] = []
    fresh = iter(orders)
    for i in range(events):
        if i % 5 == 4 and originals:
            # Mostly an event already applied, sometimes one still in flight.
            back = rng.randint(1, min(len(originals), 200))
            plan.append(originals[-back])
            continue
        order = next(fresh, None)
        if order is None:
            plan.append(originals[rng.randrange(len(originals))])
            continue
        body = json.dumps(
            intent_succeeded(order, created=created), separators=(",", ":")
        ).encode()
        originals.append(body)
        plan.append(body)
    return plan, len(originals)


def stripe_signature(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header, computed as Stripe does (HMAC-SHA256 of
    `<timestamp>.<body>` with the endpoint's signing secret)."""
    timestamp = timestamp or int(time.time())
    digest = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    return f"t={timestamp},v1={digest}"


# -------------------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_start(
    database_url: str,
    *,
    workers: int,
    worker_class: str,
    threads: int,
    log_path: Path,
    log=print,
    processing: str = "queue",
) -> Server:
    """gunicorn serving purelaka.wsgi with settings_prod on a free local port.

    `processing`: the webhook's STRIPE_WEBHOOK_PROCESSING ("queue", production's
    default: a Celery worker applies the events; or "inline").

    TLS terminates at the proxy in production: requests carry
    `X-Forwarded-Proto: https`, which SECURE_PROXY_SSL_HEADER trusts, so the
    webhook is not redirected. Offline payments (PAYMENTS_USE_STRIPE=0,
    PAYMENTS_ALLOW_OFFLINE=1): nothing calls Stripe's API, the webhook path is
    the production one.
    """
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "STRIPE_", "PAYMENTS_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="purelaka.settings_prod",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=database_url,
        STRIPE_WEBHOOK_SECRET="whsec_b4bench" + secrets.token_hex(16),
        PAYMENTS_USE_STRIPE="0",
        PAYMENTS_ALLOW_OFFLINE="1",
        CELERY_TASK_ALWAYS_EAGER="0",
        PYTHONUNBUFFERED="1",
        STRIPE_WEBHOOK_PROCESSING=processing,
        CELERY_BROKER_URL=BROKER,
    )
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "purelaka.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        worker_class,
        "--threads",
        str(threads),
        "--chdir",
        str(REPO),
        "--forwarded-allow-ips",
        "127.0.0.1",
        "--backlog",
        "2048",
        "--timeout",
        "60",
    ]
    if not Path(command[0]).exists():
        command[0:1] = [sys.executable, "-m", "gunicorn"]
    log_file = open(log_path, "wb")  # noqa: SIM115 - closed in server_stop
    process = subprocess.Popen(
        command,
        cwd=REPO,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log_file.close()
    server = Server(process, port, log_path, workers, worker_class, threads, env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"gunicorn exited with {process.returncode}; see {log_path}:\n"
                + log_path.read_text()[-2000:]
            )
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", HEALTHZ_PATH, headers={"X-Forwarded-Proto": "https"})
            response = conn.getresponse()
            response.read()
            conn.close()
            if response.status == 200:
                log(
                    f"B4 server: gunicorn {workers} x {worker_class}"
                    f"{f' ({threads} threads)' if worker_class == 'gthread' else ''}"
                    f" on 127.0.0.1:{port}, pid {process.pid}"
                )
                return server
        except OSError:
            pass
        time.sleep(0.25)
    server_stop(server)
    raise RuntimeError(f"gunicorn did not answer {HEALTHZ_PATH} within 60 s")


def server_stop(server: Server) -> None:
    """Graceful stop (SIGTERM to the master), then SIGKILL to its group."""
    _stop(server.process, timeout=20)


def _stop(process: subprocess.Popen, *, timeout: float) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def server_worker_pids(server: Server) -> list[int]:
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
    try:
        return [int(pid) for pid in children.read_text().split()]
    except OSError:
        return []


# ---------------------------------------------------------------------------- load


def _cpu_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split()[1:9]]
    except (OSError, ValueError):
        return 0, 0
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def _cpu_seconds(pids) -> dict[int, float]:
    """User + system CPU seconds of each of these processes so far (/proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    seconds = {}
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        seconds[pid] = (int(fields[11]) + int(fields[12])) / tick
    return seconds


class CpuTracker:
    """CPU used by a changing set of processes: `pids()` is polled, a process
    that appears later counts from zero, one that exits keeps its last reading
    (so at most one polling interval of its CPU is lost)."""

    def __init__(self, pids):
        self.pids = pids
        self.start = _cpu_seconds(pids())
        self.last = dict(self.start)

    def poll(self) -> None:
        for pid, seconds in _cpu_seconds(self.pids()).items():
            self.start.setdefault(pid, 0.0)
            self.last[pid] = seconds

    def used(self) -> float:
        self.poll()
        return sum(self.last[pid] - self.start[pid] for pid in self.last)


def _backend_pids(database_url: str) -> list[int]:
    """The PostgreSQL backends connected to the benchmark database (the server's
    persistent connections), when the database runs on this machine."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return [pid for (pid,) in rows if Path(f"/proc/{pid}").exists()]


def _percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def load(
    port: int,
    *,
    count: int,
    senders: int,
    request_for,
    label: str,
    log=print,
    progress_every: float = 5.0,
    server_pids=(),
    database_url: str = "",
    start: int = 0,
) -> LoadResult:
    """`senders` threads, each with its own keep-alive connection, sending
    requests start..start+count-1 (taken in order from a shared counter) as fast
    as the server answers. `request_for(i)` gives (method, path, body, headers).
    A connection error is retried (up to 3 times), as Stripe would."""
    statuses: list[int] = [0] * count
    latencies: list[float] = [0.0] * count
    counter = itertools.count()
    done = itertools.count()
    finished = [0]
    retries = [0]
    errors: list[BaseException] = []

    def sender():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            while (i := next(counter)) < count:
                method, path, body, headers = request_for(start + i)
                for attempt in range(4):
                    started = time.perf_counter()
                    try:
                        conn.request(method, path, body=body, headers=headers)
                        response = conn.getresponse()
                        response.read()
                        break
                    except (http.client.HTTPException, OSError):
                        conn.close()
                        if attempt == 3:
                            raise
                        retries[0] += 1
                latencies[i] = (time.perf_counter() - started) * 1000
                statuses[i] = response.status
                finished[0] = next(done) + 1
        except BaseException as exc:  # reported after the run
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(senders)]
    server_cpu = CpuTracker(lambda: server_pids)
    postgres_cpu = CpuTracker(
        lambda: _backend_pids(database_url) if database_url else []
    )
    busy0, total0 = _cpu_jiffies()
    cpu0 = time.process_time()
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    last_log, last_done, last_poll = started, 0, started
    while any(thread.is_alive() for thread in threads):
        for thread in threads:
            thread.join(timeout=0.2)
        now = time.perf_counter()
        if now - last_poll >= 0.5:
            server_cpu.poll()
            postgres_cpu.poll()
            last_poll = now
        if now - last_log >= progress_every:
            n = finished[0]
            rate = (n - last_done) / (now - last_log)
            eta = (count - n) / rate if rate else float("inf")
            log(f"  {label}: {n}/{count}  {rate:,.0f}/s  ETA {eta:,.0f} s")
            last_log, last_done = now, n
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu0
    busy1, total1 = _cpu_jiffies()
    if errors:
        raise RuntimeError(f"{label}: a sender failed: {errors[0]!r}") from errors[0]
    histogram: dict[str, int] = {}
    for status in statuses:
        histogram[str(status)] = histogram.get(str(status), 0) + 1
    return LoadResult(
        count=count,
        seconds=seconds,
        status_codes=dict(sorted(histogram.items())),
        latencies_ms=latencies,
        retries=retries[0],
        client_cpu_cores=cpu / seconds if seconds else 0.0,
        machine_cpu_busy=(busy1 - busy0) / (total1 - total0)
        if total1 > total0
        else 0.0,
        server_cpu_ms=server_cpu.used() * 1000 / count,
        postgres_cpu_ms=postgres_cpu.used() * 1000 / count,
    )


def combine(parts: list[LoadResult]) -> LoadResult:
    """One result from the rounds of a measurement."""
    seconds = sum(p.seconds for p in parts)
    count = sum(p.count for p in parts)
    histogram: dict[str, int] = {}
    for part in parts:
        for code, n in part.status_codes.items():
            histogram[code] = histogram.get(code, 0) + n

    def weighted(name):
        return sum(getattr(p, name) * p.seconds for p in parts) / seconds

    def per_request(name):
        return sum(getattr(p, name) * p.count for p in parts) / count

    return LoadResult(
        count=count,
        seconds=seconds,
        status_codes=dict(sorted(histogram.items())),
        latencies_ms=[ms for p in parts for ms in p.latencies_ms],
        retries=sum(p.retries for p in parts),
        client_cpu_cores=weighted("client_cpu_cores"),
        machine_cpu_busy=weighted("machine_cpu_busy"),
        server_cpu_ms=per_request("server_cpu_ms"),
        postgres_cpu_ms=per_request("postgres_cpu_ms"),
    )


# ---------------------------------------------------------------------- invariants


def check_invariants(
    conn: psycopg.Connection, data: BenchData, event_ids: set[str], codes: dict
) -> dict:
    """What the database must show after the run (see the module docstring)."""
    ids = [o.pk for o in data.orders]
    n = len(ids)
    q = conn.execute
    facts: dict = {}
    facts["orders"] = n
    facts["orders_paid"] = q(
        "SELECT count(*) FROM orders_order WHERE id = ANY(%s) AND status = 'paid'"
        " AND paid_at IS NOT NULL AND stripe_charge_id <> ''",
        (ids,),
    ).fetchone()[0]
    per_order = q(
        "SELECT count(*) FILTER (WHERE c = 1), count(*) FILTER (WHERE c > 1),"
        " coalesce(sum(c), 0) FROM (SELECT order_id, count(*) AS c"
        " FROM payments_payment WHERE order_id = ANY(%s) GROUP BY order_id) AS p",
        (ids,),
    ).fetchone()
    facts["orders_with_one_payment"], facts["orders_with_several"] = per_order[:2]
    facts["payments"] = int(per_order[2])
    facts["payments_applied_matching"] = q(
        "SELECT count(*) FROM payments_payment p JOIN orders_order o"
        " ON o.id = p.order_id WHERE p.order_id = ANY(%s) AND p.applied"
        " AND p.problem = '' AND p.amount_pennies = o.total_pennies"
        " AND p.currency = o.currency AND p.stripe_payment_intent ="
        " o.stripe_payment_intent AND p.stripe_charge_id = o.stripe_charge_id",
        (ids,),
    ).fetchone()[0]
    facts["paid_status_changes"] = q(
        "SELECT count(*) FROM orders_orderstatuschange WHERE order_id = ANY(%s)"
        " AND from_status = 'pending' AND to_status = 'paid'",
        (ids,),
    ).fetchone()[0]
    audit = dict(
        q(
            "SELECT event_type, count(*) FROM audit_auditlog"
            " WHERE target_type = 'orders.order' AND target_id = ANY(%s)"
            " AND event_type IN ('payment.recorded', 'order.paid')"
            " GROUP BY event_type",
            ([str(i) for i in ids],),
        ).fetchall()
    )
    facts["audit_payment_recorded"] = audit.get("payment.recorded", 0)
    facts["audit_order_paid"] = audit.get("order.paid", 0)
    events = dict(
        q(
            "SELECT status, count(*) FROM payments_stripeevent"
            " WHERE event_id = ANY(%s) GROUP BY status",
            (list(event_ids),),
        ).fetchall()
    )
    facts["distinct_event_ids"] = len(event_ids)
    facts["stripe_events"] = sum(events.values())
    facts["stripe_events_by_status"] = events
    facts["payment_exceptions"] = q(
        "SELECT count(*) FROM payments_paymentexception WHERE order_id = ANY(%s)",
        (ids,),
    ).fetchone()[0]
    facts["active_reservations"] = q(
        "SELECT count(*) FROM catalog_stockreservation WHERE holder = ANY(%s)"
        " AND status = 'active'",
        ([f"order:{i}" for i in ids],),
    ).fetchone()[0]
    stock = {}
    for vid, on_hand, moved, sales in q(
        "SELECT v.id, v.stock_on_hand, coalesce(sum(m.delta), 0),"
        " coalesce(sum(-m.delta) FILTER (WHERE m.reason = 'sale'), 0)"
        " FROM catalog_variant v LEFT JOIN catalog_stockmovement m"
        " ON m.variant_id = v.id WHERE v.id = ANY(%s) GROUP BY v.id",
        (data.variant_ids,),
    ).fetchall():
        stock[vid] = {
            "initial": data.initial_stock[vid],
            "ordered": data.units_sold[vid],
            "on_hand": on_hand,
            "sum_of_movements": moved,
            "sold_movements": sales,
        }
    facts["stock"] = stock
    invariants = {
        "no_5xx": not any(code.startswith("5") for code in codes),
        "all_2xx": all(code.startswith("2") for code in codes),
        "one_payment_per_order": facts["orders_with_one_payment"] == n
        and facts["orders_with_several"] == 0
        and facts["payments"] == n,
        "payments_applied": facts["payments_applied_matching"] == n
        and facts["payment_exceptions"] == 0,
        "all_paid": facts["orders_paid"] == n and facts["paid_status_changes"] == n,
        "audit_rows": facts["audit_payment_recorded"] == n
        and facts["audit_order_paid"] == n,
        "events_stored_once": facts["stripe_events"] == len(event_ids)
        and events.get("processed", 0) == len(event_ids),
        "stock_exact": len(stock) == len(data.variant_ids)
        and all(
            s["on_hand"] == s["initial"] - s["ordered"] == s["sum_of_movements"]
            and s["sold_movements"] == s["ordered"]
            for s in stock.values()
        ),
        "no_active_reservations": facts["active_reservations"] == 0,
    }
    return {"invariants": invariants, "facts": facts}


# -------------------------------------------------------------------------- worker


def worker_start(env: dict, log_path: Path, *, concurrency: int = 2):
    """A real Celery worker (prefork) on the benchmark's broker, with the server's
    settings: it applies the queued events."""
    import redis

    from purelaka.settings import TASK_QUEUE_NAMES

    redis.Redis.from_url(BROKER).flushdb()
    log_file = open(log_path, "wb")  # noqa: SIM115 - closed right after Popen
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "purelaka", "worker",
         # Every queue: webhooks are routed to `live` (settings.CELERY_TASK_ROUTES).
         "-Q", ",".join(TASK_QUEUE_NAMES),
         "--pool", "prefork", "--concurrency", str(concurrency),
         "--without-gossip", "--without-mingle", "--without-heartbeat",
         "--loglevel", "WARNING"],
        cwd=REPO, env=env, stdout=log_file, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    log_file.close()
    return process


def worker_stop(process) -> None:
    _stop(process, timeout=30)


def drain(database_url: str, event_ids: set[str], *, worker, log=print) -> float:
    """Wait until every event is applied; returns the seconds it took."""
    ids = sorted(event_ids)
    started = time.perf_counter()
    with psycopg.connect(database_url, autocommit=True) as conn:
        while True:
            left = conn.execute(
                "SELECT count(*) FROM payments_stripeevent WHERE event_id = ANY(%s) "
                "AND status NOT IN ('processed', 'ignored', 'failed')",
                (ids,),
            ).fetchone()[0]
            waited = time.perf_counter() - started
            if not left:
                return waited
            if worker.poll() is not None:
                raise RuntimeError("B4: the Celery worker stopped while draining")
            if waited > DRAIN_TIMEOUT_SECONDS:
                raise RuntimeError(
                    f"B4: {left} events still queued after {waited:.0f} s"
                )
            log(f"B4 drain: {left:,} events still queued ({waited:.0f} s)")
            time.sleep(2)


# ----------------------------------------------------------------------------- run


def run(
    database_url: str,
    *,
    events: int = 20000,
    senders: int = 16,
    log=print,
    workers: int = 4,
    worker_class: str = "sync",
    threads: int = 1,
    rounds: int = 5,
    processing: str = "queue",
) -> dict:
    """Set up, measure the healthz limit and the webhook figure on one server,
    check the invariants; returns the figures (see the module docstring)."""
    orders = events * 4 // 5
    log(f"B4 webhook ingestion: {events} events ({orders} orders), {senders} senders")
    started = time.perf_counter()
    with psycopg.connect(database_url, autocommit=True) as conn:
        data = prepare(conn, orders=orders)
    log(f"B4 set-up: {orders} pending orders in {time.perf_counter() - started:.1f} s")
    bodies, distinct = delivery_plan(data.orders, events)
    event_ids = {json.loads(body)["id"] for body in bodies}
    log_path = Path(
        os.environ.get("B4_SERVER_LOG")
        or Path(tempfile.gettempdir()) / f"b4_gunicorn_{data.tag}.log"
    )
    server = server_start(
        database_url,
        workers=workers,
        worker_class=worker_class,
        threads=threads,
        log_path=log_path,
        log=log,
        processing=processing,
    )
    worker = None
    if processing == "queue":
        # The worker applies events while the burst comes in, as in production:
        # it shares the machine with the server during both measurements.
        worker = worker_start(server.env, log_path.with_suffix(".worker.log"))
    drain_seconds = 0.0
    try:
        secret = server.env["STRIPE_WEBHOOK_SECRET"]
        https = {"X-Forwarded-Proto": "https"}
        get_healthz = ("GET", HEALTHZ_PATH, None, https)
        # Warm-up: every worker imports its code and opens its connection; the
        # webhook's modules load on bad-signature posts, which store nothing.
        warm = load(
            server.port,
            count=max(200, senders * 20),
            senders=senders,
            request_for=lambda i: (
                get_healthz
                if i % 2
                else (
                    "POST",
                    WEBHOOK_PATH,
                    b'{"id":"evt_warmup"}',
                    https | {"Stripe-Signature": "t=1,v1=00"},
                )
            ),
            label="warm-up",
            log=log,
        )
        if set(warm.status_codes) != {"200", "400"}:
            raise RuntimeError(f"warm-up answered {warm.status_codes}")
        workers_pids = [server.process.pid, *server_worker_pids(server)]

        def post_event(i):
            body = bodies[i]
            return (
                "POST",
                WEBHOOK_PATH,
                body,
                https
                | {
                    "Content-Type": "application/json; charset=utf-8",
                    "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                    "Stripe-Signature": stripe_signature(body, secret),
                },
            )

        # The limit and the figure alternate in rounds, so load from outside the
        # benchmark (a shared machine) weighs on both alike.
        healthz_parts, webhook_parts = [], []
        sizes = [events // rounds + (r < events % rounds) for r in range(rounds)]
        sent = 0
        rounds_started = time.perf_counter()
        for r, size in enumerate(sizes, start=1):
            part = load(
                server.port,
                count=size,
                senders=senders,
                request_for=lambda i: get_healthz,
                label=f"healthz round {r}/{rounds}",
                log=log,
                server_pids=workers_pids,
                database_url=database_url,
            )
            healthz_parts.append(part)
            part = load(
                server.port,
                count=size,
                senders=senders,
                request_for=post_event,
                label=f"webhook round {r}/{rounds}",
                log=log,
                server_pids=workers_pids,
                database_url=database_url,
                start=sent,
            )
            webhook_parts.append(part)
            sent += size
            done_h, done_w = combine(healthz_parts), combine(webhook_parts)
            eta = (events - sent) * (1 / done_w.rate + 1 / done_h.rate)
            log(
                f"B4 round {r}/{rounds}: healthz {healthz_parts[-1].rate:,.0f} req/s, "
                f"webhook {webhook_parts[-1].rate:,.0f} events/s "
                f"({sent}/{events} events sent, {done_w.rate:,.0f}/s so far, "
                f"ETA {eta:,.0f} s)"
            )
        healthz, webhook = combine(healthz_parts), combine(webhook_parts)
        if worker is not None:
            drain_seconds = drain(database_url, event_ids, worker=worker, log=log)
            log(f"B4 drain: every event applied {drain_seconds:.0f} s after the burst")
        to_all_applied = time.perf_counter() - rounds_started
        log(
            f"B4 limit: healthz {healthz.rate:,.0f} req/s "
            f"(p50 {_percentile(healthz.latencies_ms, 50):.1f} ms, "
            f"server CPU {healthz.server_cpu_ms:.2f} ms/req, "
            f"postgres CPU {healthz.postgres_cpu_ms:.2f} ms/req, "
            f"client CPU {healthz.client_cpu_cores:.2f} cores, "
            f"machine {healthz.machine_cpu_busy:.0%} busy)"
        )
    finally:
        server_stop(server)
        if worker is not None:
            worker_stop(worker)
    log(
        f"B4 figure: webhook {webhook.rate:,.0f} events/s "
        f"(p50 {_percentile(webhook.latencies_ms, 50):.1f} ms, "
        f"p95 {_percentile(webhook.latencies_ms, 95):.1f} ms, "
        f"server CPU {webhook.server_cpu_ms:.2f} ms/event, "
        f"postgres CPU {webhook.postgres_cpu_ms:.2f} ms/event, "
        f"client CPU {webhook.client_cpu_cores:.2f} cores, "
        f"machine {webhook.machine_cpu_busy:.0%} busy), codes {webhook.status_codes}"
    )
    with psycopg.connect(database_url, autocommit=True) as conn:
        checked = check_invariants(conn, data, event_ids, webhook.status_codes)
    ratio = webhook.rate / healthz.rate if healthz.rate else 0.0
    invariants = checked["invariants"]
    result = {
        "benchmark": "B4 webhook ingestion",
        "events": events,
        "distinct_events": distinct,
        "replays": events - distinct,
        "orders": orders,
        "senders": senders,
        "workers": workers,
        "worker_class": worker_class,
        "threads": threads,
        "healthz_rps": round(healthz.rate, 1),
        "healthz_p50_ms": round(_percentile(healthz.latencies_ms, 50), 2),
        "healthz_p95_ms": round(_percentile(healthz.latencies_ms, 95), 2),
        "webhook_eps": round(webhook.rate, 1),
        "processing": processing,
        "drain_seconds_after_burst": round(drain_seconds, 1),
        # From the first request of the first round to the last event applied.
        "seconds_to_all_applied": round(to_all_applied, 1),
        "applied_eps": round(distinct / to_all_applied, 1),
        "ratio": round(ratio, 3),
        "goal_ratio": GOAL_RATIO,
        "goal_met": ratio >= GOAL_RATIO,
        "status_codes": webhook.status_codes,
        "healthz_status_codes": healthz.status_codes,
        "p50_ms": round(_percentile(webhook.latencies_ms, 50), 2),
        "p95_ms": round(_percentile(webhook.latencies_ms, 95), 2),
        "p99_ms": round(_percentile(webhook.latencies_ms, 99), 2),
        "webhook_seconds": round(webhook.seconds, 2),
        "rounds": rounds,
        "healthz_rps_by_round": [round(p.rate, 1) for p in healthz_parts],
        "webhook_eps_by_round": [round(p.rate, 1) for p in webhook_parts],
        "connection_retries": webhook.retries + healthz.retries,
        "client_cpu_cores": {
            "healthz": round(healthz.client_cpu_cores, 2),
            "webhook": round(webhook.client_cpu_cores, 2),
        },
        "server_cpu_ms_per_request": {
            "healthz": round(healthz.server_cpu_ms, 2),
            "webhook": round(webhook.server_cpu_ms, 2),
        },
        "postgres_cpu_ms_per_request": {
            "healthz": round(healthz.postgres_cpu_ms, 2),
            "webhook": round(webhook.postgres_cpu_ms, 2),
        },
        "machine_cpu_busy": {
            "healthz": round(healthz.machine_cpu_busy, 2),
            "webhook": round(webhook.machine_cpu_busy, 2),
        },
        "cpu_count": os.cpu_count(),
        "server_log": str(log_path),
        "server": "gunicorn purelaka.wsgi, DJANGO_SETTINGS_MODULE="
        "purelaka.settings_prod, X-Forwarded-Proto: https",
        "invariants": invariants,
        "facts": checked["facts"],
        "ok": all(invariants.values()),
    }
    log(
        f"B4 ratio {ratio:.3f} (goal >= {GOAL_RATIO}); invariants "
        + ", ".join(f"{k}={'ok' if v else 'FAIL'}" for k, v in invariants.items())
    )
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", ""),
        help="a migrated PureLaka PostgreSQL database",
    )
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--senders", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--worker-class", default="sync", choices=["sync", "gthread"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="healthz and webhook load alternate in this many rounds",
    )
    parser.add_argument(
        "--processing",
        default="queue",
        choices=["queue", "inline"],
        help="STRIPE_WEBHOOK_PROCESSING of the server (queue: a worker applies)",
    )
    parser.add_argument("--json", help="also write the result to this file")
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("--database-url (or DATABASE_URL) is required")
    result = run(
        args.database_url,
        events=args.events,
        senders=args.senders,
        workers=args.workers,
        worker_class=args.worker_class,
        threads=args.threads,
        rounds=args.rounds,
        processing=args.processing,
    )
    text = json.dumps(result, indent=2, default=str)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
