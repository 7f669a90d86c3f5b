"""`seed_demo`: a realistic, deterministic shop produced through the real services.

Idempotent: running it again on a seeded database adds nothing. Each later feature
adds a step here, so `make demo` always opens on a living shop.
"""

import datetime as dt
import random
import re
from dataclasses import dataclass, field

from django.db.models import Min
from django.utils import timezone

from accounts.models import User
from accounts.roles import Role
from accounts.services import user_create
from analyticsapp.models import DailySnapshot
from analyticsapp.services.snapshots import history_bounds, snapshots_build
from catalog.models import Product
from catalog.services.products import (
    VariantSpec,
    category_get_or_create,
    product_create,
)
from catalog.services.stock import StockUnavailable
from core.timeutils import reporting_tz
from demo.catalogue import COLOURS, PREORDER, PRODUCTS, SIZES, SUBSCRIPTIONS
from demo.history import seed_history
from demo.subscriptions import seed_subscriptions
from orders.services.cart import CustomerCart, cart_add
from orders.services.checkout import ShippingAddress, new_checkout_token, order_place
from wishlist.services import wishlist_add, wishlist_remove

DEMO_PASSWORD = "purelaka-demo"  # noqa: S105 - printed for the demo on purpose
DEMO_LOGINS = [
    ("admin@purelaka.test", "Ada Admin", Role.ADMIN),
    ("ops@purelaka.test", "Oscar Ops", Role.OPS),
    ("analyst@purelaka.test", "Anya Analyst", Role.ANALYST),
    ("customer@purelaka.test", "Cora Customer", Role.CUSTOMER),
]
FIRST_NAMES = [
    "Amelia", "Oliver", "Isla", "George", "Ava", "Noah", "Mia", "Arthur", "Ivy",
    "Leo", "Freya", "Oscar", "Lily", "Harry", "Grace", "Jack", "Sophia", "Theo",
    "Rosie", "Finley", "Evie", "Alfie", "Poppy", "Charlie", "Willow", "Henry",
]  # fmt: skip
LAST_NAMES = [
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies",
    "Patel", "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts",
    "Green", "Hall", "Khan", "Clarke", "Lewis", "Young", "Ahmed", "Hughes",
]  # fmt: skip
TOWNS = [
    ("Bristol", "BS1 4DJ"), ("Leeds", "LS1 5HD"), ("Norwich", "NR2 1NR"),
    ("Cardiff", "CF10 1EP"), ("York", "YO1 7HH"), ("Brighton", "BN1 1UG"),
    ("Edinburgh", "EH1 1YZ"), ("Manchester", "M1 1AE"), ("Bath", "BA1 1LZ"),
]  # fmt: skip


@dataclass
class SeedReport:
    created: dict[str, int] = field(default_factory=dict)

    def add(self, what: str, n: int = 1):
        if n:
            self.created[what] = self.created.get(what, 0) + n


def _sku(name: str, suffix: str) -> str:
    letters = "".join(w[:3] for w in re.findall(r"[A-Za-z]+", name)).upper()
    return f"{letters}-{suffix}".upper()


def _variant_specs(rng, name, options, price, preorder):
    def stock():
        if preorder:
            return 0
        # A realistic spread: mostly healthy, some low, a few sold out.
        return rng.choice([0, 2, 3, 4, 8, 12, 15, 20, 25, 30, 40, 60])

    if options == "single":
        return [VariantSpec(sku=_sku(name, "STD"), stock=stock())]
    if options == "colour":
        return [
            VariantSpec(
                sku=_sku(name, c[:3]), option_values={"colour": c}, stock=stock()
            )
            for c in COLOURS
        ]
    if options == "size":
        step = max(price // 4, 100)
        return [
            VariantSpec(
                sku=_sku(name, s),
                option_values={"size": s},
                stock=stock(),
                price_override_pennies=price + i * step if i else None,
            )
            for i, s in enumerate(SIZES)
        ]
    return [
        VariantSpec(
            sku=_sku(name, f"{c[:3]}{s}"),
            option_values={"colour": c, "size": s},
            stock=stock(),
        )
        for c in COLOURS[:2]
        for s in SIZES
    ]


def seed_catalogue(rng: random.Random, report: SeedReport):
    for category_name, name, price, options, description in PRODUCTS:
        if Product.objects.filter(name=name).exists():
            continue
        preorder = name in PREORDER
        product_create(
            name=name,
            category=category_get_or_create(name=category_name),
            price_pennies=price,
            description=description,
            is_preorder=preorder,
            low_stock_threshold=5,
            variants=_variant_specs(rng, name, options, price, preorder),
        )
        report.add("products")
    for category_name, name, price, interval, description in SUBSCRIPTIONS:
        if Product.objects.filter(name=name).exists():
            continue
        product_create(
            name=name,
            category=category_get_or_create(name=category_name),
            price_pennies=price,
            description=description,
            billing_interval=interval,
            variants=[VariantSpec(sku=_sku(name, "SUB"))],
        )
        report.add("subscription products")


def seed_users(rng: random.Random, report: SeedReport, customers: int):
    for email, name, role in DEMO_LOGINS:
        if not User.objects.filter(email=email).exists():
            user_create(
                email=email, password=DEMO_PASSWORD, full_name=name, roles=[role]
            )
            report.add("demo logins")
    new_people = []
    for i in range(customers):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        email = f"{first}.{last}.{i}@example.com".lower()
        if User.objects.filter(email=email).exists():
            continue
        new_people.append(
            user_create(
                email=email,
                password=None,
                full_name=f"{first} {last}",
                roles=[Role.CUSTOMER],
            )
        )
        report.add("customers")
    return new_people


def seed_shoppers(seed: int, report: SeedReport, people: list[User]):
    """Wishlists, carts and some placed orders awaiting payment, for new customers."""
    products = list(
        Product.objects.filter(active=True, billing_interval="")
        .prefetch_related("variants")
        .order_by("pk")
    )
    for person in people:
        rng = random.Random(f"{seed}:shopper:{person.email}")
        for product in rng.sample(products, k=rng.randint(0, 4)):
            wishlist_add(customer=person, product=product)
            report.add("wishlist adds")
            if rng.random() < 0.25:
                wishlist_remove(customer=person, product_id=product.pk)
        cart = CustomerCart(person)
        for product in rng.sample(products, k=rng.choice([0, 0, 1, 2, 3])):
            variant = rng.choice(list(product.variants.all()))
            cart_add(cart=cart, variant_id=variant.pk, quantity=rng.randint(1, 2))
            report.add("cart items")
        if cart.entries() and rng.random() < 0.3:
            town, postcode = rng.choice(TOWNS)
            try:
                order_place(
                    customer=person,
                    entries=cart.entries(),
                    address=ShippingAddress(
                        name=person.full_name,
                        line1=f"{rng.randint(1, 200)} High Street",
                        city=town,
                        postcode=postcode,
                    ),
                    checkout_token=new_checkout_token(),
                )
                report.add("orders placed")
            except StockUnavailable:
                report.add("checkouts refused for stock")


def seed_demo(
    *, seed: int = 42, customers: int = 60, days: int = 0, out=print
) -> SeedReport:
    """Each step draws from its own random stream, so a step that finds its work
    already done (a re-run) does not shift what the next step draws."""
    report = SeedReport()
    seed_catalogue(random.Random(f"{seed}:catalogue"), report)
    people = seed_users(random.Random(f"{seed}:users"), report, customers)
    seed_history(seed=seed, days=days, report=report, out=out)
    seed_subscriptions(seed=seed, days=days, report=report, out=out)
    seed_shoppers(seed, report, people)
    seed_join_dates(seed, report)
    seed_snapshots(report)
    return report


# A customer joins this many days (at most) before their first purchase.
JOINED_BEFORE_DAYS = 45


def seed_join_dates(seed: int, report: SeedReport):
    """Date each customer's joining before their first order or subscription:
    1 to JOINED_BEFORE_DAYS days earlier (London), at a daytime hour, drawn from the
    customer's own stream; a customer who has bought nothing joined that long
    before today. Laid out on days before today, so the same seed gives the same
    offsets on any date. Only ever moves a join date earlier: a re-run changes
    nothing."""
    tz = reporting_tz()
    today = timezone.now().astimezone(tz).date()
    customers = (
        User.objects.filter(groups__name=Role.CUSTOMER)
        .annotate(
            first_order=Min("orders__created_at"),
            first_subscription=Min("subscriptions__started_at"),
        )
        .order_by("pk")
    )
    for person in customers:
        rng = random.Random(f"{seed}:joined:{person.email}")
        firsts = [m for m in (person.first_order, person.first_subscription) if m]
        first_day = min(firsts).astimezone(tz).date() if firsts else today
        day = first_day - dt.timedelta(days=rng.randint(1, JOINED_BEFORE_DAYS))
        moment = dt.datetime.combine(
            day, dt.time(rng.randint(7, 21), rng.randint(0, 59)), tzinfo=tz
        )
        if person.date_joined > moment:
            User.objects.filter(pk=person.pk).update(date_joined=moment)
            report.add("join dates set before first orders")


def seed_snapshots(report: SeedReport):
    """Build the analytics snapshots for all of history (idempotent)."""
    bounds = history_bounds()
    if bounds is None or bounds[1] < bounds[0] or DailySnapshot.objects.exists():
        return
    run = snapshots_build(
        date_from=bounds[0], date_to=bounds[1], triggered_by="seed_demo"
    )
    report.add("snapshot days", run.days_built)
