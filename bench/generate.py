"""A merchant's two years at scale, written with PostgreSQL COPY.

`generate(orders=1_000_000)` makes, deterministically from `seed`:
- the catalogue (products and variants) and the staff through the real services;
- `orders // 10` customers with their customer role;
- `orders` orders over 730 days ending yesterday, busier at weekends, growing over
  the period and lifted before Christmas; about 2.5 lines each;
- for each paid order what the real pipeline leaves behind: its lines, its stock
  holds (consumed), its sale movements, its status rows (pending, paid, fulfilled),
  and one applied Payment with its PaymentIntent and charge ids, paid minutes after
  checkout;
- abandoned checkouts: canceled orders whose holds were released;
- 5 % of paid orders refunded (two in five in full with their units restocked, the
  rest in part), each with its Refund in the ledger and the order's refund fields;
- wishlist adds, about one for every five orders, some later removed;
- opening stock received through the real stock service, so that on hand equals
  the sum of the movements and never goes below zero.

Rows go in by COPY on one connection per table, each fed by a writer thread, while
this process generates the next batch; foreign-key triggers are off for the load
(`session_replication_role = replica`, as pg_restore does): the rows are made
consistent by construction, and `run_checks --fail-on-issues` proves it afterwards.

Not generated: Stripe events (their payloads are the webhook benchmark's business),
audit rows for each order (the audit viewer pages by index), disputes and
subscriptions (their checks and dashboards are covered by the demo and the tests).
"""

import datetime as dt
import math
import random
import time
from collections import Counter
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection

CUSTOMER_SHARE = 10  # one customer for every ten orders
DAYS = 730
REFUND_RATE = 0.05
CANCEL_RATE = 0.03
WISHLIST_PER_ORDER = 0.2
BATCH = 20_000
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # as orders.services.checkout
FIRST = [
    "Ada",
    "Ben",
    "Chloe",
    "Dev",
    "Ella",
    "Finn",
    "Grace",
    "Hari",
    "Isla",
    "Jack",
    "Kemi",
    "Leo",
    "Maya",
    "Noah",
]
LAST = [
    "Ahmed",
    "Brown",
    "Clarke",
    "Davies",
    "Evans",
    "Fraser",
    "Green",
    "Hughes",
    "Iqbal",
    "Jones",
    "Khan",
]
TOWNS = [("Bristol", "BS1 4DJ"), ("Leeds", "LS1 5HD"), ("York", "YO1 7HH"),
         ("Cardiff", "CF10 1EP"), ("Norwich", "NR2 1NR"), ("Bath", "BA1 1LZ"),
         ("Glasgow", "G1 1XQ"), ("Belfast", "BT1 5GS")]  # fmt: skip
CATALOGUE = [
    ("Kitchen", ["Stoneware Mug", "Linen Tea Towel", "Oak Board", "Enamel Jug",
                 "Glass Carafe", "Copper Pan", "Bread Tin", "Salt Cellar"]),
    ("Home", ["Wool Throw", "Linen Cushion", "Beeswax Candle", "Clay Vase",
              "Rattan Basket", "Cotton Rug", "Brass Hook", "Oak Stool"]),
    ("Garden", ["Seed Tin", "Trowel", "Twine Ball", "Zinc Planter", "Gardening Gloves",
                "Watering Can", "Bird Feeder", "Herb Kit"]),
    ("Bath", ["Soap Bar", "Bath Salts", "Cotton Towel", "Wash Bag", "Loofah",
              "Hand Cream", "Bath Brush", "Robe"]),
    ("Stationery", ["Notebook", "Fountain Pen", "Desk Tray", "Letter Set",
                    "Pencil Case", "Wall Planner", "Ink Bottle", "Bookmark Set"]),
]  # fmt: skip
OPTIONS = ["Sage", "Ochre", "Slate", "Chalk"]


def order_number(order_id: int) -> str:
    """Unique per id (an odd multiplier is a bijection mod 32**8), random-looking."""
    x = (order_id * 0x9E3779B1) % (32**8)
    chars = []
    for _ in range(8):
        x, r = divmod(x, 32)
        chars.append(ALPHABET[r])
    return "PL-" + "".join(chars)


def day_weights(first: dt.date, days: int) -> list[float]:
    """Relative order volume per day: growth, weekends, the run-up to Christmas."""
    weights = []
    for i in range(days):
        day = first + dt.timedelta(days=i)
        w = 1.0 + 1.5 * i / days
        if day.weekday() >= 5:
            w *= 1.4
        if (day.month, day.day) >= (11, 20) and (day.month, day.day) < (12, 22):
            w *= 1.8
        if day.month in (1, 2):
            w *= 0.8
        weights.append(w)
    return weights


def _ts(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S+00")


def _text(value) -> str:
    """A COPY text-format field."""
    if value is None:
        return r"\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    return str(value)


TABLES = {
    "accounts_user": ["id", "password", "last_login", "is_superuser", "email",
                      "full_name", "is_staff", "is_active", "date_joined"],
    "accounts_user_groups": ["id", "user_id", "group_id"],
    "orders_order": ["id", "created_at", "updated_at", "number", "customer_id", "email",
                     "status", "refund_status", "currency", "subtotal_pennies",
                     "shipping_pennies", "total_pennies", "refunded_pennies",
                     "checkout_token", "shipping_name", "shipping_line1",
                     "shipping_line2", "shipping_city", "shipping_postcode",
                     "shipping_country", "tracking_reference", "carrier",
                     "stripe_checkout_session_id", "stripe_payment_intent",
                     "stripe_charge_id", "paid_at", "fulfilled_at", "canceled_at",
                     "refunded_at"],
    "orders_orderline": ["id", "order_id", "variant_id", "product_name",
                         "variant_label", "sku", "unit_price_pennies", "quantity",
                         "line_total_pennies", "is_preorder"],
    "orders_orderstatuschange": ["id", "order_id", "from_status", "to_status",
                                 "actor_id", "by", "note", "created_at"],
    "catalog_stockreservation": ["id", "variant_id", "holder", "quantity", "status",
                                 "expires_at", "created_at", "closed_at"],
    "catalog_stockmovement": ["id", "variant_id", "delta", "reason", "note",
                              "reference", "actor_id", "created_at"],
    "payments_payment": ["id", "created_at", "updated_at", "stripe_payment_intent",
                         "stripe_charge_id", "stripe_invoice_id", "stripe_customer_id",
                         "stripe_subscription_id", "order_id", "customer_id", "source",
                         "amount_pennies", "currency", "paid_at", "applied", "problem"],
    "payments_refund": ["id", "created_at", "updated_at", "stripe_refund_id",
                        "payment_id", "stripe_charge_id", "stripe_payment_intent",
                        "amount_pennies", "currency", "status", "status_at", "reason",
                        "stripe_created", "idempotency_key", "requested_by_id",
                        "restock", "restocked_at"],
    "payments_balancetransaction": ["id", "created_at", "updated_at", "stripe_id",
                                    "type", "reporting_category", "amount_pennies",
                                    "fee_pennies", "net_pennies", "currency",
                                    "exchange_rate", "fee_details", "status",
                                    "available_on", "stripe_created", "source_id",
                                    "charge_id", "payout_stripe_id"],
    "wishlist_wishlistitem": ["id", "customer_id", "product_id", "added_at",
                              "removed_at", "removal"],
}  # fmt: skip


@dataclass
class Plan:
    """What the generator made, for the report and the benchmarks."""

    orders: int = 0
    rows: Counter = field(default_factory=Counter)
    first_day: dt.date | None = None
    last_day: dt.date | None = None
    seconds: float = 0.0


class _Loader:
    """One COPY per table, each on its own connection and writer thread."""

    def __init__(self, dsn: str):
        import psycopg
        from psycopg.copy import QueuedLibpqWriter

        self.conns, self.copies, self._ctx = {}, {}, []
        for table, columns in TABLES.items():
            conn = psycopg.connect(dsn, autocommit=False)
            conn.execute("SET session_replication_role = replica")
            conn.execute("SET synchronous_commit = off")
            cursor = conn.cursor()
            ctx = cursor.copy(
                f"COPY {table} ({', '.join(columns)}) FROM STDIN",
                writer=QueuedLibpqWriter(cursor),
            )
            self.copies[table] = ctx.__enter__()
            self.conns[table] = conn
            self._ctx.append(ctx)

    def write(self, table: str, rows: list[str]):
        if rows:
            self.copies[table].write("".join(rows))

    def finish(self):
        for ctx in self._ctx:
            ctx.__exit__(None, None, None)
        for conn in self.conns.values():
            conn.commit()
            conn.close()


def _catalogue(rng):
    """Products and variants through the catalogue service (no opening stock yet)."""
    from catalog.services.products import (
        VariantSpec,
        category_get_or_create,
        product_create,
    )

    variants = []
    for category_name, names in CATALOGUE:
        category = category_get_or_create(name=category_name)
        for name in names:
            price = rng.choice([450, 800, 1200, 1500, 2200, 2800, 3600, 4500, 6500])
            slug = name.upper().replace(" ", "")[:8]
            product = product_create(
                name=name,
                category=category,
                price_pennies=price,
                variants=[
                    VariantSpec(
                        sku=f"{slug}-{o[:3].upper()}", option_values={"colour": o}
                    )
                    for o in OPTIONS
                ],
                low_stock_threshold=10,
            )
            for v in product.variants.order_by("pk"):
                variants.append(
                    (v.pk, product.pk, name, v.label, v.sku, v.price_pennies)
                )
    return variants


def _staff():
    from accounts.roles import Role
    from accounts.services import user_create

    return user_create(
        email="ops@bench.test", password=None, full_name="Bench Ops", roles=[Role.OPS]
    )


def generate(*, orders: int, seed: int = 1, log=print) -> Plan:
    """Fill the (empty, migrated) PostgreSQL database Django is connected to."""
    from django.contrib.auth.models import Group

    from catalog.models import Variant
    from catalog.services.stock import stock_receive
    from core.timeutils import reporting_tz, today
    from demo.history import travel_to
    from payments.gateway.pricing import offline_available_on, offline_fee

    assert connection.vendor == "postgresql", "the generator writes with COPY"
    started = time.monotonic()
    rng = random.Random(seed)
    plan = Plan(orders=orders)
    currency = settings.STORE_CURRENCY.upper()
    tz = reporting_tz()
    last_day = today() - dt.timedelta(days=1)
    first_day = last_day - dt.timedelta(days=DAYS - 1)
    plan.first_day, plan.last_day = first_day, last_day
    history_start = dt.datetime.combine(first_day, dt.time(0, 0), tz).astimezone(dt.UTC)

    with travel_to(history_start - dt.timedelta(days=30)):
        variants = _catalogue(rng)
        ops = _staff()
    customer_group = Group.objects.get(name="customer").pk
    flat = settings.SHIPPING_FLAT_PENNIES
    free_from = settings.FREE_SHIPPING_THRESHOLD_PENNIES

    # Popularity: a long tail over variants and over customers.
    variant_weights = [1 / (i + 1) ** 0.8 for i in range(len(variants))]
    rng.shuffle(variant_weights)
    variant_cum = _cumulative(variant_weights)
    n_customers = max(orders // CUSTOMER_SHARE, 1)
    weights = day_weights(first_day, DAYS)
    per_day = _apportion(orders, weights)
    products = sorted({v[1] for v in variants})

    dsn = _dsn()
    loader = _Loader(dsn)
    ids = Counter()

    def next_id(table):
        ids[table] += 1
        return ids[table]

    # Customers first (orders refer to them), joined before the history starts.
    user_base = ops.pk + 1
    rows, groups = [], []
    for i in range(n_customers):
        uid = user_base + i
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        joined = history_start - dt.timedelta(minutes=rng.randrange(1, 60 * 24 * 30))
        rows.append(
            f"{uid}\t!bench\t\\N\tf\tcustomer{i:07d}@bench.test\t{name}\tf\tt\t"
            f"{_ts(joined)}\n"
        )
        groups.append(f"{10_000 + i}\t{uid}\t{customer_group}\n")
    loader.write("accounts_user", rows)
    loader.write("accounts_user_groups", groups)
    plan.rows["accounts_user"] = plan.rows["accounts_user_groups"] = n_customers
    names = [r.split("\t")[5] for r in rows]
    emails = [f"customer{i:07d}@bench.test" for i in range(n_customers)]
    del rows, groups

    sold, restocked = Counter(), Counter()
    now = int(time.time())
    ts = _Stamps(first_day - dt.timedelta(days=60), last_day + dt.timedelta(days=4))
    order_id = 0
    buf = {t: [] for t in TABLES}
    open_wishes = set()
    t0 = time.monotonic()
    rand = rng.random
    rows_status = buf["orders_orderstatuschange"]
    rows_line, rows_hold = buf["orders_orderline"], buf["catalog_stockreservation"]
    rows_move, rows_payment = buf["catalog_stockmovement"], buf["payments_payment"]
    rows_refund, rows_order = buf["payments_refund"], buf["orders_order"]
    rows_wish = buf["wishlist_wishlistitem"]
    rows_bt = buf["payments_balancetransaction"]

    def balance_transaction(kind, source, charge, amount, fee, at):
        """Stripe's balance transaction, as the offline gateway makes it: available
        at 00:00 UTC two days on; the fee at the UK card pricing."""
        available = offline_available_on(at)
        details = (
            f'[{{"type": "stripe_fee", "amount": {fee}, "currency": '
            f'"{currency.lower()}", "description": "Stripe processing fees"}}]'
            if fee
            else "[]"
        )
        rows_bt.append(
            f"{next_id('bt')}\t{ts(at)}\t{ts(at)}\ttxn_bench_{source}\t{kind}\t{kind}\t"
            f"{amount}\t{fee}\t{amount - fee}\t{currency}\t\\N\t{details}\t"
            f"{'available' if available <= now else 'pending'}\t{ts(available)}\t"
            f"{ts(at)}\t{source}\t{charge}\t\n"
        )

    start_epoch = int(history_start.timestamp())

    def flush():
        for table, lines in buf.items():
            loader.write(table, lines)
            plan.rows[table] += len(lines)
            lines.clear()

    for day_index, count in enumerate(per_day):
        day = first_day + dt.timedelta(days=day_index)
        midnight = int(dt.datetime.combine(day, dt.time(0, 0), tz).timestamp())
        for _ in range(count):
            order_id += 1
            # Shoppers buy through the day, most in the evening.
            minute = min(int(abs(rng.gauss(19.5, 4.0)) * 60) % 1440, 1439)
            created = midnight + minute * 60 + int(rand() * 60)
            # Repeat customers: a power law over customer numbers.
            c = int(n_customers * rand() ** 1.6)
            uid = user_base + c
            k = _lines_count(rand())
            chosen = set()
            while len(chosen) < k:
                chosen.add(_pick(variant_cum, rand()))
            subtotal, lines = 0, []
            for vi in sorted(chosen):
                vid, _pid, pname, label, sku, price = variants[vi]
                r = rand()
                qty = 1 if r < 0.82 else (2 if r < 0.96 else 3)
                subtotal += price * qty
                lines.append((vid, pname, label, sku, price, qty))
            shipping = 0 if subtotal >= free_from else flat
            total = subtotal + shipping
            town, postcode = TOWNS[c % len(TOWNS)]
            canceled = rand() < CANCEL_RATE
            holder = f"order:{order_id}"
            t_created, t_expires = ts(created), ts(created + 1800)
            pi, ch = f"pi_bench{order_id:010d}", f"ch_bench{order_id:010d}"
            status_id = ids["sc"]
            rows_status.append(
                f"{status_id + 1}\t{order_id}\t\tpending\t{uid}\tcustomer\t\t"
                f"{t_created}\n"
            )
            paid_at = fulfilled_at = canceled_at = refunded_at = None
            if canceled:
                canceled_at = created + 300 + int(rand() * 1500)
                t_closed = ts(canceled_at)
                status = "canceled"
                rows_status.append(
                    f"{status_id + 2}\t{order_id}\tpending\tcanceled\t\\N\tsystem\t"
                    f"checkout abandoned\t{t_closed}\n"
                )
                ids["sc"] += 2
                hold_status = "released"
            else:
                paid_at = created + 20 + int(rand() * 580)
                t_paid = t_closed = ts(paid_at)
                rows_status.append(
                    f"{status_id + 2}\t{order_id}\tpending\tpaid\t\\N\tpayments\t\t"
                    f"{t_paid}\n"
                )
                fulfilled_at = paid_at + 3600 * (4 + int(rand() * 68))
                if fulfilled_at < now - 3600:
                    status = "fulfilled"
                    rows_status.append(
                        f"{status_id + 3}\t{order_id}\tpaid\tfulfilled\t{ops.pk}\tops"
                        f"\t\t{ts(fulfilled_at)}\n"
                    )
                    ids["sc"] += 3
                else:
                    status, fulfilled_at = "paid", None
                    ids["sc"] += 2
                hold_status = "consumed"
            line_id, hold_id = ids["line"], ids["hold"]
            for vid, pname, label, sku, price, qty in lines:
                line_id += 1
                hold_id += 1
                rows_line.append(
                    f"{line_id}\t{order_id}\t{vid}\t{pname}\t{label}\t{sku}\t"
                    f"{price}\t{qty}\t{price * qty}\tf\n"
                )
                rows_hold.append(
                    f"{hold_id}\t{vid}\t{holder}\t{qty}\t{hold_status}\t"
                    f"{t_expires}\t{t_created}\t{t_closed}\n"
                )
                if not canceled:
                    sold[vid] += qty
                    rows_move.append(
                        f"{next_id('move')}\t{vid}\t{-qty}\tsale\t\t{holder}\t\\N\t"
                        f"{t_paid}\n"
                    )
            ids["line"], ids["hold"] = line_id, hold_id
            refunded, refund_status = 0, "none"
            if not canceled:
                payment_id = next_id("payment")
                rows_payment.append(
                    f"{payment_id}\t{t_paid}\t{t_paid}\t{pi}\t{ch}\t\\N\t\t\t"
                    f"{order_id}\t{uid}\torder\t{total}\t{currency}\t{t_paid}\tt\t\n"
                )
                balance_transaction(
                    "charge", ch, ch, total, offline_fee(total, "GB"), paid_at
                )
                if rand() < REFUND_RATE:
                    at = paid_at + 3600 * (2 + int(rand() * 478))
                    if at < now - 3600:
                        full = rand() < 0.4
                        refunded = total if full else _partial(rng, lines, total)
                        refund_status = "full" if full else "partial"
                        refunded_at, t_at = at, ts(at)
                        restock = {}
                        if full:
                            restock = {vid: qty for vid, *_, qty in lines}
                            for vid, qty in restock.items():
                                restocked[vid] += qty
                                rows_move.append(
                                    f"{next_id('move')}\t{vid}\t{qty}\trefund_restock\t"
                                    f"refund\t{holder}\t\\N\t{t_at}\n"
                                )
                        restock_json = (
                            "{"
                            + ", ".join(f'"{v}": {q}' for v, q in restock.items())
                            + "}"
                        )
                        rows_refund.append(
                            f"{next_id('refund')}\t{t_at}\t{t_at}\t"
                            f"re_bench{order_id:010d}\t{payment_id}\t{ch}\t{pi}\t"
                            f"{refunded}\t{currency}\tsucceeded\t{t_at}\t"
                            f"requested_by_customer\t{t_at}\t\\N\t{ops.pk}\t"
                            f"{restock_json}\t{t_at if restock else chr(92) + 'N'}\n"
                        )
                        balance_transaction(
                            "refund", f"re_bench{order_id:010d}", ch, -refunded, 0, at
                        )
            updated = refunded_at or fulfilled_at or canceled_at or paid_at or created
            rows_order.append(
                f"{order_id}\t{t_created}\t{ts(updated)}\t{order_number(order_id)}\t"
                f"{uid}\t{emails[c]}\t{status}\t{refund_status}\t{currency}\t"
                f"{subtotal}\t{shipping}\t{total}\t{refunded}\t"
                f"bench-{order_id:012d}\t{names[c]}\t{1 + c % 180} High Street\t\t"
                f"{town}\t{postcode}\tGB\t\t\t\t{'' if canceled else pi}\t"
                f"{'' if canceled else ch}\t{_opt(ts, paid_at)}\t"
                f"{_opt(ts, fulfilled_at)}\t{_opt(ts, canceled_at)}\t"
                f"{_opt(ts, refunded_at)}\n"
            )
            if rand() < WISHLIST_PER_ORDER:
                wc = user_base + int(n_customers * rand())
                product = products[int(len(products) * rand())]
                if (wc, product) not in open_wishes:
                    added = max(created - int(rand() * 7 * 86400), start_epoch)
                    removed = rand() < 0.25
                    if not removed:
                        open_wishes.add((wc, product))
                    rows_wish.append(
                        f"{next_id('wish')}\t{wc}\t{product}\t{ts(added)}\t"
                        + (f"{ts(added + 2 * 86400)}\tremoved\n"
                           if removed else "\\N\t\n")
                    )  # fmt: skip
            if order_id % BATCH == 0:
                flush()
                rate = order_id / (time.monotonic() - t0)
                log(
                    f"  generated {order_id:,}/{orders:,} orders, "
                    f"{rate:,.0f} orders/s, ETA {(orders - order_id) / rate:,.0f} s"
                )
    flush()
    log("  committing the COPY streams …")
    loader.finish()
    _fix_sequences(dsn)

    # Opening stock: everything sold, less what came back, plus what is left on the
    # shelf, received through the real service at the start of the history.
    log("  receiving opening stock through the stock service …")
    with travel_to(history_start - dt.timedelta(days=1)):
        for vid, *_ in variants:
            on_shelf = rng.randrange(15, 400)
            stock_receive(
                variant=Variant.objects.get(pk=vid),
                quantity=sold[vid] - restocked[vid] + on_shelf,
                note="opening stock (benchmark history)",
            )
    # The sale and restock movements went in by COPY: on hand = sum of movements.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE catalog_variant v SET stock_on_hand = m.total FROM "
            "(SELECT variant_id, SUM(delta) AS total FROM catalog_stockmovement "
            "GROUP BY variant_id) m WHERE m.variant_id = v.id"
        )
        # What autovacuum does to a live database: statistics, and the visibility
        # map that lets index-only scans skip the heap.
        cursor.execute("VACUUM ANALYZE")
    plan.seconds = time.monotonic() - started
    return plan


class _Stamps:
    """Epoch seconds to COPY's timestamptz text, from two lookup tables (datetime's
    strftime costs ~12 µs a call; a million orders need ~15 million stamps)."""

    def __init__(self, first: dt.date, last: dt.date):
        self.days = {
            (first + dt.timedelta(days=i) - EPOCH).days: (
                f"{first + dt.timedelta(days=i)} "
            )
            for i in range((last - first).days + 1)
        }
        self.times = [
            f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}+00" for s in range(86400)
        ]

    def __call__(self, epoch: int) -> str:
        day, second = divmod(epoch, 86400)
        return self.days[day] + self.times[second]


EPOCH = dt.date(1970, 1, 1)


def _opt(ts, epoch):
    return r"\N" if epoch is None else ts(epoch)


def _cumulative(weights):
    total, acc, out = sum(weights), 0.0, []
    for w in weights:
        acc += w / total
        out.append(acc)
    return out


def _pick(cumulative, r):
    import bisect

    return min(bisect.bisect_left(cumulative, r), len(cumulative) - 1)


def _apportion(total: int, weights: list[float]) -> list[int]:
    """Integers proportional to weights that add up to exactly `total`."""
    scale = total / sum(weights)
    counts = [math.floor(w * scale) for w in weights]
    shortfall = total - sum(counts)
    order = sorted(
        range(len(weights)), key=lambda i: w_frac(weights[i] * scale), reverse=True
    )
    for i in order[:shortfall]:
        counts[i] += 1
    return counts


def w_frac(x: float) -> float:
    return x - math.floor(x)


def _lines_count(r: float) -> int:
    for k, cum in ((1, 0.25), (2, 0.55), (3, 0.80), (4, 0.92)):
        if r < cum:
            return k
    return 5


def _partial(rng, lines, total) -> int:
    """A part refund (less than the total): one line's value, or a goodwill amount."""
    _vid, _n, _l, _s, price, qty = rng.choice(lines)
    amount = price * qty if rng.random() < 0.6 else max(100, (price * qty) // 4)
    return amount if amount < total else total // 2


def _dsn() -> str:
    s = connection.settings_dict
    return (
        f"host={s['HOST'] or '127.0.0.1'} port={s['PORT'] or 5432} "
        f"dbname={s['NAME']} user={s['USER']}"
        + (f" password={s['PASSWORD']}" if s.get("PASSWORD") else "")
    )


def _fix_sequences(dsn: str):
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        for table in TABLES:
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"GREATEST((SELECT MAX(id) FROM {table}), 1))"
            )
