"""Generate a deterministic history of a merchant's Stripe events as JSONL.

The events are shaped as the Events API lists them at API version
2025-03-31.basil (test mode), one per line, sorted by `created` then id, for
`manage.py import_stripe_events`. The same seed, days and start give the same
bytes. The merchant sells one-off orders (PaymentIntent + charge, some refunded
in full or in part) and a subscription in two tiers, monthly or yearly:
upgrades, downgrades, cancellations at period end, immediate churn, failed
renewals that recover or end the subscription, and churned customers who come
back. Yearly renewals need a year of age, so a few founders subscribe yearly in
the two weeks before the start.

Stripe's daily automatic payouts come last: payout.created at each 00:00 UTC of what
became available since the previous payout (by the offline pricing, UK cards, in
payments/gateway/pricing.py, loaded by its path), payout.paid the next day; the
import asks for their lines as it asks for every balance transaction.

Objects carry the fields the pipeline reads plus the identifying ones, not every
field Stripe sends. Only customer.created is emitted of the types the pipeline
ignores.

    python scripts/generate_sample_history.py --seed 20250401 --days 365
"""

import argparse
import calendar
import datetime as dt
import importlib.util
import json
import random
import string
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

API_VERSION = "2025-03-31.basil"
PRICING_FILE = Path(__file__).resolve().parent.parent / "payments/gateway/pricing.py"


def _pricing():
    """payments/gateway/pricing.py, by its path: it imports nothing of Django."""
    spec = importlib.util.spec_from_file_location("offline_pricing", PRICING_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PRICING = _pricing()
DEFAULT_SEED = 20250401
DEFAULT_START = dt.date(2025, 4, 1)
DEFAULT_OUT = Path("docs/samples/merchant_year.jsonl")
ALPHABET = string.ascii_letters + string.digits
DAY = 86_400
HOUR = 3_600
FIRST_NAMES = (
    "amelia", "olivia", "isla", "ava", "mia", "ivy", "lily", "freya", "sophia",
    "grace", "willow", "oliver", "george", "noah", "arthur", "leo", "oscar",
    "harry", "theo", "jack", "finley", "henry", "priya", "aisha", "zara", "yusuf",
    "omar", "ravi", "chen", "mei", "kwame", "ada",
)  # fmt: skip
ONE_OFF_PENNIES = (899, 1299, 1850, 2450, 3200, 3999, 5500, 7200, 8900, 12500)
# key: (product, unit amount in pence, months per period, tier)
PLANS = {
    "refill_monthly": ("Refill Club", 1200, 1, 1),
    "refill_yearly": ("Refill Club", 12000, 12, 1),
    "pro_monthly": ("Pro Box", 2900, 1, 2),
    "pro_yearly": ("Pro Box", 29000, 12, 2),
}
# Per billing period, at most one of these, tried in this order.
P_UPGRADE, P_DOWNGRADE, P_CANCEL_AT_END, P_CANCEL_NOW = 0.06, 0.04, 0.05, 0.03
P_RENEWAL_FAILS, P_RECOVERS, P_REACTIVATES = 0.08, 0.65, 0.4


def add_months(moment: int, months: int) -> int:
    """`moment` + whole months, the day clamped to the month's end (Stripe's
    billing anchor: the 31st bills on the 28th in February, the 31st in March)."""
    start = dt.datetime.fromtimestamp(moment, tz=dt.UTC)
    month0 = start.month - 1 + months
    year, month = start.year + month0 // 12, month0 % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return int(start.replace(year=year, month=month, day=day).timestamp())


@dataclass
class Customer:
    number: int
    name: str
    email: str
    stripe_id: str = ""
    invoice_prefix: str = ""
    invoices: int = 0


@dataclass
class Subscription:
    stripe_id: str
    item_id: str
    customer: Customer
    plan: str
    quantity: int
    created: int
    cycle: int = 0
    status: str = "active"
    cancel_at_period_end: bool = False
    cancel_at: int | None = None
    canceled_at: int | None = None
    ended_at: int | None = None
    latest_invoice: str = ""

    @property
    def months(self) -> int:
        return PLANS[self.plan][2]

    @property
    def period_start(self) -> int:
        return add_months(self.created, self.cycle * self.months)

    @property
    def period_end(self) -> int:
        return add_months(self.created, (self.cycle + 1) * self.months)

    @property
    def amount(self) -> int:
        return PLANS[self.plan][1] * self.quantity


@dataclass
class History:
    seed: int
    start: dt.date
    days: int
    events: list[dict] = field(default_factory=list)
    customers: list[Customer] = field(default_factory=list)
    # (available_on, net) of each balance transaction Stripe makes for the history.
    balance: list[tuple[int, int]] = field(default_factory=list)

    def __post_init__(self):
        self.rng = random.Random(self.seed)
        self.begin = int(
            dt.datetime.combine(self.start, dt.time.min, tzinfo=dt.UTC).timestamp()
        )
        self.end = self.begin + self.days * DAY
        self.products = {
            name: self.new_id("prod_", 14) for name in ("Refill Club", "Pro Box")
        }
        self.prices = {key: self.new_id("price_1") for key in PLANS}

    # ids and envelopes
    def new_id(self, prefix: str, length: int = 24) -> str:
        return prefix + "".join(self.rng.choice(ALPHABET) for _ in range(length))

    def emit(self, event_type: str, obj: dict, at: int, previous=None) -> None:
        if at >= self.end:
            return
        data = {"object": obj}
        if previous is not None:
            data["previous_attributes"] = previous
        self.events.append(
            {
                "id": self.new_id("evt_1"),
                "object": "event",
                "api_version": API_VERSION,
                "created": at,
                "data": data,
                "livemode": False,
                "pending_webhooks": 0,
                "request": {"id": None, "idempotency_key": None},
                "type": event_type,
            }
        )

    def moment_on(self, day_start: int) -> int:
        """A shopping moment of the day: mostly daytime, some late at night."""
        return day_start + self.rng.randint(6 * HOUR, 24 * HOUR - 1)

    # customers
    def customer_new(self) -> Customer:
        number = len(self.customers) + 1
        name = self.rng.choice(FIRST_NAMES)
        customer = Customer(number, name, f"{name}.{number}@example.com")
        self.customers.append(customer)
        return customer

    def billing_customer(self, customer: Customer, at: int) -> Customer:
        """Give the customer a Stripe Customer (cus_…) if they have none yet."""
        if not customer.stripe_id:
            customer.stripe_id = self.new_id("cus_", 14)
            customer.invoice_prefix = self.new_id("", 8).upper()
            self.emit(
                "customer.created",
                {
                    "id": customer.stripe_id,
                    "object": "customer",
                    "created": at,
                    "email": customer.email,
                    "name": customer.name.title(),
                    "invoice_prefix": customer.invoice_prefix,
                    "livemode": False,
                    "metadata": {},
                },
                at,
            )
        return customer

    # money
    def intent_and_charge(
        self, customer: Customer, amount: int, at: int, *, intent: str = "", **extra
    ) -> tuple[str, str, dict]:
        """payment_intent.succeeded and charge.succeeded at `at` (basil: no
        `invoice` on either, `latest_charge` on the intent)."""
        intent = intent or self.new_id("pi_3")
        charge_id = self.new_id("ch_3")
        common = {
            "amount": amount,
            "currency": "gbp",
            "customer": customer.stripe_id or None,
            "livemode": False,
            "metadata": {},
            "receipt_email": extra.get("receipt_email"),
        }
        charge = {
            "id": charge_id,
            "object": "charge",
            **common,
            "amount_captured": amount,
            "amount_refunded": 0,
            "billing_details": {"email": customer.email, "name": customer.name.title()},
            "captured": True,
            "created": at,
            "paid": True,
            "payment_intent": intent,
            "refunded": False,
            "status": "succeeded",
        }
        self.emit("charge.succeeded", charge, at)
        if at < self.end:
            fee = PRICING.offline_fee(amount, "GB")
            self.balance.append((PRICING.offline_available_on(at), amount - fee))
        self.emit(
            "payment_intent.succeeded",
            {
                "id": intent,
                "object": "payment_intent",
                **common,
                "amount_received": amount,
                "created": at - self.rng.randint(5, 90),
                "description": extra.get("description"),
                "latest_charge": charge_id,
                "payment_method_types": ["card"],
                "status": "succeeded",
            },
            at,
        )
        return intent, charge_id, charge

    def one_off(self, customer: Customer, at: int) -> None:
        amount = self.rng.choice(ONE_OFF_PENNIES) * self.rng.choice((1, 1, 1, 2, 3))
        _, _, charge = self.intent_and_charge(
            customer, amount, at, receipt_email=customer.email, description="Order"
        )
        roll = self.rng.random()
        if roll < 0.06:
            self.refunds(charge, [amount], at)
        elif roll < 0.10:
            first = amount * self.rng.choice((20, 25, 40, 50)) // 100
            parts = [first]
            if self.rng.random() < 0.4:
                parts.append((amount - first) // 2)
            self.refunds(charge, parts, at)

    def refunds(self, charge: dict, amounts: list[int], paid_at: int) -> None:
        """refund.created (succeeded; a few pending, then refund.updated) and
        charge.refunded without a refunds list, as basil sends it."""
        at, refunded = paid_at, 0
        for amount in amounts:
            at += self.rng.randint(DAY, 12 * DAY)
            refunded += amount
            pending = self.rng.random() < 0.15
            refund = {
                "id": self.new_id("re_3"),
                "object": "refund",
                "amount": amount,
                "charge": charge["id"],
                "created": at,
                "currency": "gbp",
                "metadata": {},
                "payment_intent": charge["payment_intent"],
                "reason": "requested_by_customer",
                "status": "pending" if pending else "succeeded",
            }
            self.emit("refund.created", refund, at)
            succeeded_at = at
            if pending:
                succeeded_at = at + self.rng.randint(HOUR, 3 * DAY)
                self.emit(
                    "refund.updated",
                    {**refund, "status": "succeeded"},
                    succeeded_at,
                    previous={"status": "pending"},
                )
            if succeeded_at < self.end:  # its balance transaction: dated by the refund
                self.balance.append((PRICING.offline_available_on(at), -amount))
            previous = {"amount_refunded": charge["amount_refunded"]}
            charge = {
                **charge,
                "amount_refunded": refunded,
                "refunded": refunded >= charge["amount"],
            }
            self.emit("charge.refunded", charge, at, previous=previous)

    # subscriptions
    def subscription_object(self, sub: Subscription) -> dict:
        product, unit_amount, months, _ = PLANS[sub.plan]
        interval = "year" if months == 12 else "month"
        item = {
            "id": sub.item_id,
            "object": "subscription_item",
            "created": sub.created,
            "current_period_end": sub.period_end,
            "current_period_start": sub.period_start,
            "metadata": {},
            "price": {
                "id": self.prices[sub.plan],
                "object": "price",
                "active": True,
                "currency": "gbp",
                "product": self.products[product],
                "recurring": {
                    "interval": interval,
                    "interval_count": 1,
                    "usage_type": "licensed",
                },
                "type": "recurring",
                "unit_amount": unit_amount,
                "unit_amount_decimal": str(unit_amount),
            },
            "quantity": sub.quantity,
            "subscription": sub.stripe_id,
        }
        return {
            "id": sub.stripe_id,
            "object": "subscription",
            "billing_cycle_anchor": sub.created,
            "cancel_at": sub.cancel_at,
            "cancel_at_period_end": sub.cancel_at_period_end,
            "canceled_at": sub.canceled_at,
            "collection_method": "charge_automatically",
            "created": sub.created,
            "currency": "gbp",
            "customer": sub.customer.stripe_id,
            "ended_at": sub.ended_at,
            "items": {
                "object": "list",
                "data": [item],
                "has_more": False,
                "total_count": 1,
                "url": f"/v1/subscription_items?subscription={sub.stripe_id}",
            },
            "latest_invoice": sub.latest_invoice or None,
            "livemode": False,
            "metadata": {},
            "start_date": sub.created,
            "status": sub.status,
        }

    def subscription_event(self, event_type: str, sub: Subscription, at: int, **prev):
        self.emit(event_type, self.subscription_object(sub), at, previous=prev or None)

    def invoice_object(self, sub: Subscription, invoice_id: str, reason: str) -> dict:
        product, unit_amount, months, _ = PLANS[sub.plan]
        per = "year" if months == 12 else "month"
        return {
            "id": invoice_id,
            "object": "invoice",
            "amount_due": sub.amount,
            "amount_paid": 0,
            "amount_remaining": sub.amount,
            "attempt_count": 0,
            "attempted": False,
            "billing_reason": reason,
            "collection_method": "charge_automatically",
            "created": sub.period_start,
            "currency": "gbp",
            "customer": sub.customer.stripe_id,
            "customer_email": sub.customer.email,
            "customer_name": sub.customer.name.title(),
            "lines": {
                "object": "list",
                "data": [
                    {
                        "id": self.new_id("il_1"),
                        "object": "line_item",
                        "amount": sub.amount,
                        "currency": "gbp",
                        "description": f"{sub.quantity} × {product} "
                        f"(at £{unit_amount / 100:.2f} / {per})",
                        "invoice": invoice_id,
                        "parent": {
                            "subscription_item_details": {
                                "invoice_item": None,
                                "proration": False,
                                "subscription": sub.stripe_id,
                                "subscription_item": sub.item_id,
                            },
                            "type": "subscription_item_details",
                        },
                        "period": {"end": sub.period_end, "start": sub.period_start},
                        "pricing": {
                            "price_details": {
                                "price": self.prices[sub.plan],
                                "product": self.products[product],
                            },
                            "type": "price_details",
                            "unit_amount_decimal": str(unit_amount),
                        },
                        "quantity": sub.quantity,
                    }
                ],
                "has_more": False,
                "total_count": 1,
                "url": f"/v1/invoices/{invoice_id}/lines",
            },
            "livemode": False,
            "number": f"{sub.customer.invoice_prefix}-{sub.customer.invoices:04d}",
            "parent": {
                "quote_details": None,
                "subscription_details": {"metadata": {}, "subscription": sub.stripe_id},
                "type": "subscription_details",
            },
            "period_end": sub.period_start,
            "period_start": sub.period_start,
            "status": "open",
            "status_transitions": {
                "finalized_at": sub.period_start,
                "marked_uncollectible_at": None,
                "paid_at": None,
                "voided_at": None,
            },
            "subtotal": sub.amount,
            "total": sub.amount,
        }

    def invoice_open(self, sub: Subscription, reason: str) -> tuple[dict, str]:
        sub.customer.invoices += 1
        invoice = self.invoice_object(sub, self.new_id("in_1"), reason)
        sub.latest_invoice = invoice["id"]
        return invoice, self.new_id("pi_3")

    def invoice_pay(
        self, customer: Customer, invoice: dict, intent: str, at: int
    ) -> None:
        """The invoice's PaymentIntent and charge succeed at `at`; invoice.paid and
        invoice_payment.paid follow a second later."""
        self.intent_and_charge(
            customer,
            invoice["amount_due"],
            at,
            intent=intent,
            description="Subscription creation"
            if invoice["billing_reason"] == "subscription_create"
            else "Subscription update",
        )
        paid = {
            **invoice,
            "amount_paid": invoice["amount_due"],
            "amount_remaining": 0,
            "attempt_count": invoice["attempt_count"] + 1,
            "attempted": True,
            "status": "paid",
            "status_transitions": {**invoice["status_transitions"], "paid_at": at},
        }
        self.emit("invoice.paid", paid, at + 1)
        self.emit(
            "invoice_payment.paid",
            {
                "id": self.new_id("inpay_1"),
                "object": "invoice_payment",
                "amount_paid": invoice["amount_due"],
                "amount_requested": invoice["amount_due"],
                "created": at,
                "currency": "gbp",
                "invoice": invoice["id"],
                "is_default": True,
                "livemode": False,
                "parent": invoice["parent"],
                "payment": {"payment_intent": intent, "type": "payment_intent"},
                "status": "paid",
                "status_transitions": {"canceled_at": None, "paid_at": at},
            },
            at + 1,
        )

    def invoice_fail(self, invoice: dict, intent: str, at: int) -> dict:
        """A declined renewal: payment_intent.payment_failed, invoice.payment_failed."""
        error = {
            "code": "card_declined",
            "decline_code": "insufficient_funds",
            "message": "Your card has insufficient funds.",
            "type": "card_error",
        }
        self.emit(
            "payment_intent.payment_failed",
            {
                "id": intent,
                "object": "payment_intent",
                "amount": invoice["amount_due"],
                "amount_received": 0,
                "created": at - 2,
                "currency": "gbp",
                "customer": invoice["customer"],
                "last_payment_error": error,
                "latest_charge": None,
                "livemode": False,
                "metadata": {},
                "status": "requires_payment_method",
            },
            at,
        )
        failed = {
            **invoice,
            "attempt_count": invoice["attempt_count"] + 1,
            "attempted": True,
            "next_payment_attempt": at + 3 * DAY,
        }
        self.emit("invoice.payment_failed", failed, at + 1)
        return failed

    def subscription_start(self, customer: Customer, plan: str, at: int) -> None:
        """A subscription's whole life from `at`: first invoice, changes, renewals,
        and how it ends (possibly followed by a comeback)."""
        self.billing_customer(customer, at - self.rng.randint(30, 300))
        sub = Subscription(
            stripe_id=self.new_id("sub_1"),
            item_id=self.new_id("si_", 14),
            customer=customer,
            plan=plan,
            quantity=1 if self.rng.random() < 0.85 else 2,
            created=at,
        )
        invoice, intent = self.invoice_open(sub, "subscription_create")
        self.subscription_event("customer.subscription.created", sub, at)
        self.invoice_pay(customer, invoice, intent, at + 2)
        ended = self.subscription_life(sub)
        if ended is not None and self.rng.random() < P_REACTIVATES:
            comeback = ended + self.rng.randint(20, 120) * DAY
            if comeback < self.end:
                self.subscription_start(
                    customer, self.rng.choice(list(PLANS)), self.moment_on(comeback)
                )

    def subscription_life(self, sub: Subscription) -> int | None:
        """Period by period until the history ends; returns when it ended, if it did."""
        settled = sub.period_start  # no change before a failed renewal recovers
        while True:
            end = sub.period_end
            change_at = settled + self.rng.randint(DAY, max(end - settled, DAY))
            roll = self.rng.random()
            if change_at < min(end, self.end):
                if roll < P_UPGRADE:
                    self.subscription_change(sub, +1, change_at)
                elif roll < P_UPGRADE + P_DOWNGRADE:
                    self.subscription_change(sub, -1, change_at)
                elif roll < P_UPGRADE + P_DOWNGRADE + P_CANCEL_AT_END:
                    sub.cancel_at_period_end, sub.cancel_at = True, end
                    sub.canceled_at = change_at
                    self.subscription_event(
                        "customer.subscription.updated",
                        sub,
                        change_at,
                        cancel_at_period_end=False,
                        cancel_at=None,
                        canceled_at=None,
                    )
                    return self.subscription_end(sub, end)
                elif roll < P_UPGRADE + P_DOWNGRADE + P_CANCEL_AT_END + P_CANCEL_NOW:
                    sub.canceled_at = change_at
                    return self.subscription_end(sub, change_at)
            if end >= self.end:
                return None
            previous = {
                "items": {
                    "data": [
                        {
                            "id": sub.item_id,
                            "current_period_end": end,
                            "current_period_start": sub.period_start,
                        }
                    ]
                },
                "latest_invoice": sub.latest_invoice,
            }
            sub.cycle += 1
            settled = sub.period_start
            invoice, intent = self.invoice_open(sub, "subscription_cycle")
            self.subscription_event(
                "customer.subscription.updated", sub, end, **previous
            )
            charge_at = end + HOUR + self.rng.randint(0, 600)
            if self.rng.random() >= P_RENEWAL_FAILS:
                self.invoice_pay(sub.customer, invoice, intent, charge_at)
                continue
            invoice = self.invoice_fail(invoice, intent, charge_at)
            sub.status = "past_due"
            self.subscription_event(
                "customer.subscription.updated", sub, charge_at + 2, status="active"
            )
            retry_at = charge_at + self.rng.randint(2, 7) * DAY
            if self.rng.random() < P_RECOVERS:
                self.invoice_pay(sub.customer, invoice, intent, retry_at)
                sub.status = "active"
                self.subscription_event(
                    "customer.subscription.updated",
                    sub,
                    retry_at + 2,
                    status="past_due",
                )
                settled = retry_at + 2
                continue
            sub.canceled_at = charge_at + 14 * DAY
            return self.subscription_end(sub, sub.canceled_at)

    def subscription_change(self, sub: Subscription, direction: int, at: int) -> None:
        """An upgrade (+1) or downgrade (-1): the tier first, else the quantity.
        Billed from the next renewal (no prorations)."""
        _, _, months, tier = PLANS[sub.plan]
        same_period = (k for k, p in PLANS.items() if p[2] == months)
        other = next((k for k in same_period if PLANS[k][3] == tier + direction), None)
        previous = {
            "items": {
                "data": [
                    {
                        "id": sub.item_id,
                        "price": {"id": self.prices[sub.plan]},
                        "quantity": sub.quantity,
                    }
                ]
            }
        }
        if other is not None and (direction > 0 or sub.quantity == 1):
            sub.plan = other
        elif direction > 0 or sub.quantity > 1:
            sub.quantity += direction
        else:
            return
        self.subscription_event("customer.subscription.updated", sub, at, **previous)

    def subscription_end(self, sub: Subscription, at: int) -> int | None:
        if at >= self.end:
            return None
        sub.status, sub.ended_at = "canceled", at
        sub.canceled_at = sub.canceled_at or at
        self.subscription_event("customer.subscription.deleted", sub, at)
        return at

    # the history
    def generate(self) -> list[dict]:
        """Every event of the history, sorted by `created` then id."""
        for _ in range(6):  # founders: yearly, in the two weeks before the start
            day = self.begin - self.rng.randint(1, 14) * DAY
            plan = self.rng.choice(("refill_yearly", "pro_yearly"))
            self.subscription_start(self.customer_new(), plan, self.moment_on(day))
        buyers: list[Customer] = []
        for day in range(self.days):
            day_start = self.begin + day * DAY
            for _ in range(self.rng.choices((0, 1, 2, 3), (30, 35, 25, 10))[0]):
                if buyers and self.rng.random() < 0.35:
                    customer = self.rng.choice(buyers)
                else:
                    customer = self.customer_new()
                    buyers.append(customer)
                    if self.rng.random() < 0.4:
                        self.billing_customer(customer, day_start)
                self.one_off(customer, self.moment_on(day_start))
            if self.rng.random() < 0.2:
                customer = (
                    self.rng.choice(buyers)
                    if buyers and self.rng.random() < 0.3
                    else self.customer_new()
                )
                plan = self.rng.choices(list(PLANS), (45, 12, 33, 10))[0]
                self.subscription_start(customer, plan, self.moment_on(day_start))
        self.payouts()
        return sorted(self.events, key=lambda e: (e["created"], e["id"]))

    def payouts(self) -> None:
        """Stripe's daily automatic payouts of the history (pricing.payout_windows):
        payout.created at 00:00 UTC, payout.paid the next day."""
        for created, amount in PRICING.payout_windows(
            self.balance, first=self.begin, end=self.end
        ):
            payout = {
                "id": self.new_id("po_1"),
                "object": "payout",
                "amount": amount,
                "currency": "gbp",
                "arrival_date": created + DAY,
                "automatic": True,
                "balance_transaction": self.new_id("txn_1"),
                "created": created,
                "method": "standard",
                "status": "pending",
                "type": "bank_account",
                "failure_code": None,
                "failure_message": None,
                "reconciliation_status": "in_progress",
            }
            self.emit("payout.created", payout, created)
            paid = {**payout, "status": "paid", "reconciliation_status": "completed"}
            self.emit(
                "payout.paid", paid, created + DAY, previous={"status": "pending"}
            )


def generate(
    *, seed: int = DEFAULT_SEED, days: int = 365, start: dt.date = DEFAULT_START
) -> list[dict]:
    """The events of a `days`-long history from `start` (UTC), sorted."""
    return History(seed=seed, start=start, days=days).generate()


def to_jsonl(events: list[dict]) -> str:
    return "".join(
        json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n" for e in events
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument(
        "--start",
        type=dt.date.fromisoformat,
        default=DEFAULT_START,
        help="first day (UTC), YYYY-MM-DD",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if args.days < 1:
        parser.error("--days must be at least 1")
    events = generate(seed=args.seed, days=args.days, start=args.start)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = to_jsonl(events)
    args.out.write_text(text, encoding="utf-8")
    for event_type, count in sorted(Counter(e["type"] for e in events).items()):
        print(f"{count:6d}  {event_type}")
    print(f"{len(events)} events, {len(text.encode())} bytes -> {args.out}")


if __name__ == "__main__":
    main()
