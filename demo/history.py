"""A shop's past, made by running the real services at past moments.

Each act (a customer checks out, pays through the offline Stripe pipeline, ops
fulfils, refunds; a card holder disputes) happens at its own time under
time-machine, so every row and every Stripe event carries the time it would have.

The same on any day: the history is laid out on day offsets before today (London)
and London wall-clock times, never on the real calendar. A seed run on another
date gives the same acts at the same offset and time of day, so its books are the
same shifted by whole days: the pattern's "weekend" and weekly delivery repeat
every seven days counted back from today, whatever weekday that is; every act
falls between 06:00 and midnight London, clear of the hour a DST switch skips or
repeats; and an act is planned only before today's midnight (the cut-off), so the
time of day at which the seed runs changes nothing.
"""

import datetime as dt
import random
import time

import time_machine
from django.utils import timezone

from accounts.models import User
from catalog.models import Variant
from catalog.selectors import variants_with_availability
from catalog.services.stock import stock_receive
from core.exceptions import DomainError
from core.timeutils import reporting_tz
from orders.models import Order
from orders.services.cart import CartEntry
from orders.services.checkout import ShippingAddress, new_checkout_token, order_place
from orders.services.lifecycle import By, order_cancel, order_fulfil
from payments.gateway import OfflineGateway
from payments.models import Payment, Payout, Refund, StripeEvent
from payments.services.checkout import checkout_start
from payments.services.refunds import refund_issue
from payments.services.settlement_sync import settlement_sync

TOWNS = [
    ("Bristol", "BS1 4DJ"),
    ("Leeds", "LS1 5HD"),
    ("York", "YO1 7HH"),
    ("Cardiff", "CF10 1EP"),
    ("Norwich", "NR2 1NR"),
    ("Bath", "BA1 1LZ"),
]


# Ops work, and the bank's batch runs, start at 07:00 London.
WORKDAY_STARTS = dt.time(7, 0)


def travel_to(moment: dt.datetime):
    """Run the services at `moment` (time-machine, not ticking)."""
    return time_machine.travel(moment, tick=False)


def seed_cutoff() -> tuple[dt.date, dt.datetime]:
    """Today in London, and its midnight: the history ends there, whatever the
    time of day the seed runs."""
    today = timezone.now().astimezone(reporting_tz()).date()
    return today, dt.datetime.combine(today, dt.time(0, 0), tzinfo=reporting_tz())


def later(moment: dt.datetime, delay: dt.timedelta) -> dt.datetime:
    """`delay` after `moment` on London's wall clock (aware datetime arithmetic
    in one zone is wall-clock), moved to 07:00 when it falls in the night: no act
    lands in the hour a DST switch skips or repeats."""
    when = moment + delay
    if when.time() < WORKDAY_STARTS:
        when = when.replace(hour=WORKDAY_STARTS.hour)
    return when


def _orders_on(rng, offset: int, index: int, days: int) -> int:
    """Busier two days in seven (the pattern's "weekend", `offset` days before
    today: 6 and 7 days back, then every seven), growing over the period, with a
    three-week promotion that ended ten days ago (1.6x)."""
    base = 2 + 3 * index / max(days, 1)
    if offset % 7 in (0, 6):
        base *= 1.5
    if 10 < offset <= 31:
        base *= 1.6
    return max(0, int(rng.gauss(base, 1.0) + 0.5))


def _pick_lines(rng, variants):
    stocked = [v for v in variants if v.available > 0 or v.product.is_preorder]
    chosen = rng.sample(stocked, k=min(len(stocked), rng.choice([1, 1, 1, 2, 2, 3])))
    return {v.pk: CartEntry(rng.choice([1, 1, 1, 2]), v.price_pennies) for v in chosen}


def _payment_of(order):
    return Payment.objects.filter(order=order, applied=True).first()


def seed_history(*, seed: int, days: int, report, out=print) -> None:
    if days <= 0 or Payment.objects.exists():
        return
    rng = random.Random(f"{seed}:history")  # noqa: S311 - demo data, not secrets
    ops = User.objects.get(email="ops@purelaka.test")
    customers = list(User.objects.filter(groups__name="customer").order_by("pk"))
    gateway = OfflineGateway()
    tz = reporting_tz()
    today, cutoff = seed_cutoff()
    acts: list[tuple[dt.datetime, str, int]] = []
    links = random.Random(f"{seed}:links")  # noqa: S311 - its own, not to shift the rest
    started, placed = time.monotonic(), 0
    for index in range(days):
        offset = days - index
        day = today - dt.timedelta(days=offset)
        opening = dt.datetime.combine(day, dt.time(6, 0), tzinfo=tz)
        if offset % 7 == 4:  # the weekly delivery for what runs low
            with travel_to(opening):
                for variant in Variant.objects.filter(
                    product__is_preorder=False,
                    product__billing_interval="",
                    stock_on_hand__lt=8,
                ):
                    stock_receive(
                        variant=variant,
                        quantity=rng.randint(10, 30),
                        note="weekly delivery",
                        actor=ops,
                    )
                    report.add("stock deliveries")
        with travel_to(opening):
            variants = list(
                variants_with_availability(
                    Variant.objects.select_related("product").filter(
                        active=True, product__active=True, product__billing_interval=""
                    )
                )
            )
        for _ in range(_orders_on(rng, offset, index, days)):
            moment = dt.datetime.combine(
                day, dt.time(rng.randint(7, 22), rng.randint(0, 59)), tzinfo=tz
            )
            order = _checkout(rng, moment, customers, variants, report)
            if order is None:
                continue
            placed += 1
            if _pay(rng, gateway, order, moment, report) == "bank":
                acts += _bank_follow_ups(rng, order, moment, cutoff)
            else:
                acts += _follow_ups(rng, order, moment, cutoff)
        if offset % 9 == 5:  # a Payment Link paid in euros, from outside the shop
            moment = dt.datetime.combine(day, dt.time(13, 0), tzinfo=tz)
            if moment < cutoff:
                _a_payment_link(links, gateway, moment, customers, report)
        if (index + 1) % 15 == 0 or index + 1 == days:
            elapsed = time.monotonic() - started
            rate = placed / elapsed if elapsed else 0.0
            eta = elapsed / (index + 1) * (days - index - 1)
            out(
                f"  history: day {index + 1}/{days}, {placed} orders, "
                f"{rate:.1f} orders/s, ETA {eta:.0f}s"
            )
    acts += _a_refund_that_fails(acts, cutoff)
    acts = _the_last_dispute_awaits_a_response(acts)
    for moment, act, order_pk in sorted(acts):
        _follow_up(
            rng, gateway, ops, act, Order.objects.get(pk=order_pk), moment, report
        )
    _payouts(
        gateway, first=today - dt.timedelta(days=days), cutoff=cutoff, report=report
    )


# The payout made this many days before today fails at the bank (the demo shows
# the failure, and the next payout paying the returned funds).
FAILED_PAYOUT_DAYS_AGO = 10


def _payouts(gateway, *, first: dt.date, cutoff: dt.datetime, report) -> None:
    """Stripe's daily automatic payouts over the history, in time order, each at
    00:00 UTC up to the history's end, with the settlement sync listing the lines
    of each paid one. After every other act: a payout pays what became available
    by its day (two days after each charge), which later acts cannot change."""
    day = first + dt.timedelta(days=1)
    failing = (cutoff - dt.timedelta(days=FAILED_PAYOUT_DAYS_AGO)).date()
    while (moment := dt.datetime.combine(day, dt.time(0, 0), tzinfo=dt.UTC)) <= cutoff:
        with travel_to(moment):
            made = gateway.run_payouts()
            settlement_sync(gateway=gateway)
        report.add("payouts", sum(e["type"] == "payout.created" for e in made))
        if day == failing:
            payout = Payout.objects.filter(stripe_created=moment).first()
            if payout is not None:
                with travel_to(moment + dt.timedelta(hours=12)):
                    gateway.fail_payout(payout_id=payout.stripe_payout_id)
                report.add("failed payouts (paid again the next day)")
        day += dt.timedelta(days=1)


def _a_payment_link(rng, gateway, moment, customers, report):
    """A workshop voucher sold by a Payment Link in EUR: revenue at what Stripe
    settles it for in pounds (definitions 1.2)."""
    with travel_to(moment):
        gateway.pay_by_link(
            amount_pennies=rng.choice([3500, 4500, 6000]),
            currency="eur",
            email=rng.choice(customers).email,
        )
    report.add("payment links paid in EUR")


def _checkout(rng, moment, customers, variants, report):
    """A customer checks out what was in stock that morning (checkout re-checks)."""
    customer = rng.choice(customers)
    town, postcode = rng.choice(TOWNS)
    with travel_to(moment):
        try:
            order = order_place(
                customer=customer,
                entries=_pick_lines(rng, variants),
                address=ShippingAddress(
                    name=customer.full_name or "Customer",
                    line1=f"{rng.randint(1, 200)} Station Road",
                    city=town,
                    postcode=postcode,
                ),
                checkout_token=new_checkout_token(),
            )
        except DomainError:  # StockUnavailable among them
            report.add("checkouts refused for stock")
            return None
    report.add("orders placed")
    return order


def _pay(rng, gateway, order, moment, report):
    with travel_to(moment + dt.timedelta(minutes=2)):
        session = checkout_start(order=order, success_url="/", cancel_url="/")
        roll = rng.random()
        if roll < 0.04:  # abandoned at the payment page
            gateway.expire_checkout_session(session_id=session.id)
            report.add("checkouts abandoned")
            return
        if roll < 0.12:  # a declined card first
            gateway.pay(order=order, session_id=session.id, decline=True)
            report.add("payments declined")
        bank = 0.12 <= roll < 0.15  # a bank debit: processing for days, then it clears
    with travel_to(moment + dt.timedelta(minutes=4)):
        session = checkout_start(order=order, success_url="/", cancel_url="/")
        if bank:
            gateway.pay_by_bank(order=order, session_id=session.id)
            report.add("bank payments started")
            return "bank"
        gateway.pay(order=order, session_id=session.id)
    report.add("payments")
    return "card"


def _bank_follow_ups(rng, order, moment, cutoff):
    """A bank debit clears two to four days on (one in four fails, and the
    customer then pays by card the next day); until then the order shows
    "payment processing"."""
    acts = []
    clears = moment + dt.timedelta(days=rng.randint(2, 4))
    failed = rng.random() < 0.25
    for when, act in (
        (clears, "bank_fails" if failed else "bank_clears"),
        (clears + dt.timedelta(days=1), "pay_by_card"),
        (later(clears, dt.timedelta(days=1, hours=rng.randint(6, 30))), "fulfil"),
    ):
        if when < cutoff and (failed or act != "pay_by_card"):
            acts.append((when, act, order.pk))
    return acts


def _a_refund_that_fails(acts, cutoff):
    """The first full refund of the period fails three days on (the card's bank
    returned it), so the demo shows a reopened order and a "Refund failed" case."""
    for moment, act, order_pk in sorted(acts):
        fails = moment + dt.timedelta(days=3)
        if act == "refund_full" and fails < cutoff:
            return [(fails, "refund_fails", order_pk)]
    return []


def _the_last_dispute_awaits_a_response(acts):
    """The period's latest dispute is still waiting for the merchant's evidence
    (Stripe decides weeks later), so ops always have one to answer: an attention
    item in monitoring, never a fault in the books."""
    disputes = [a for a in sorted(acts) if a[1] == "dispute"]
    if not disputes:
        return acts
    last = disputes[-1]
    return [(a[0], "dispute_awaiting", a[2]) if a == last else a for a in acts]


def _follow_ups(rng, order, moment, cutoff):
    acts = []

    def plan(delay, act):
        when = later(moment, delay)
        if when < cutoff:
            acts.append((when, act, order.pk))

    if rng.random() < 0.9:
        plan(dt.timedelta(hours=rng.randint(6, 40)), "fulfil")
    roll = rng.random()
    if roll < 0.03:
        plan(dt.timedelta(hours=rng.randint(1, 5)), "refund_full")
    elif roll < 0.09:
        plan(dt.timedelta(days=rng.randint(3, 12)), "refund_partial")
    elif roll < 0.105:
        plan(dt.timedelta(days=rng.randint(10, 25)), "dispute")
    return acts


def _bank_follow_up(gateway, act, order, report):
    intent = (
        StripeEvent.objects.filter(
            type="payment_intent.processing",
            payload__data__object__metadata__order_id=str(order.pk),
        )
        .values_list("object_id", flat=True)
        .first()
    )
    if order.status != Order.Status.PENDING or intent is None:
        return
    if act == "pay_by_card":
        try:  # paying again reserves the stock anew
            session = checkout_start(order=order, success_url="/", cancel_url="/")
        except DomainError:  # sold out meanwhile: the customer gives up
            order_cancel(order=order, actor=order.customer, by=By.CUSTOMER)
            report.add("orders canceled after a failed bank payment")
            return
        gateway.pay(order=order, session_id=session.id)
        report.add("payments")
        return
    gateway.settle_bank_payment(
        order=order,
        session_id=order.stripe_checkout_session_id,
        payment_intent=intent,
        succeeded=act == "bank_clears",
    )
    report.add(
        "bank payments cleared" if act == "bank_clears" else "bank payments failed"
    )
    if act == "bank_clears":
        report.add("payments")


# The demo's carriers in turn, each with a reference in its own shape.
PARCELS = (
    ("royal-mail", "RM{n}GB"),
    ("dpd", "15501{n}"),
    ("evri", "H01{n}A"),
    ("ups", "1Z999AA1{n}"),
)


def _parcel(order, n: int) -> tuple[str, str]:
    carrier, shape = PARCELS[order.pk % len(PARCELS)]
    return carrier, shape.format(n=n)


def _follow_up(rng, gateway, ops, act, order, moment, report):
    if act in ("bank_clears", "bank_fails", "pay_by_card"):
        with travel_to(moment):
            _bank_follow_up(gateway, act, order, report)
        return
    with travel_to(moment):
        payment = _payment_of(order)
        if payment is None:
            return
        if act == "fulfil" and order.status == Order.Status.PAID:
            carrier, reference = _parcel(order, rng.randint(10**8, 10**9))
            order_fulfil(
                order=order,
                actor=ops,
                carrier=carrier,
                tracking_reference=reference,
            )
            report.add("orders fulfilled")
        elif act == "refund_full" and order.status == Order.Status.PAID:
            refund_issue(
                order=order,
                amount_pennies=order.total_pennies,
                reason="requested_by_customer",
                restock={line.variant_id: line.quantity for line in order.lines.all()},
                actor=ops,
                idempotency_key=new_checkout_token(),
            )
            report.add("full refunds")
        elif act == "refund_fails" and order.refund_status == Order.RefundStatus.FULL:
            refund = Refund.objects.filter(
                payment=payment, status=Refund.Status.SUCCEEDED
            ).first()
            if refund is not None:
                gateway.fail_refund(refund=refund)
                report.add("refunds failed afterwards")
        elif act == "refund_partial" and order.refund_status == Order.RefundStatus.NONE:
            share = rng.choice([20, 30, 50])
            reason = rng.choice(["requested_by_customer", "duplicate", ""])
            lines = list(order.lines.all())
            if sum(line.quantity for line in lines) > 1:
                # By line: one unit of the dearest line comes back and is restocked.
                line = max(lines, key=lambda li: (li.unit_price_pennies, li.pk))
                refund_issue(
                    order=order,
                    amount_pennies=line.unit_price_pennies,
                    reason=reason,
                    restock={} if line.is_preorder else {line.variant_id: 1},
                    actor=ops,
                    idempotency_key=new_checkout_token(),
                    lines={line.variant_id: 1},
                )
            else:  # a goodwill amount: a share of the goods
                refund_issue(
                    order=order,
                    amount_pennies=max(100, order.subtotal_pennies * share // 100),
                    reason=reason,
                    restock={},
                    actor=ops,
                    idempotency_key=new_checkout_token(),
                )
            report.add("partial refunds")
        elif act in ("dispute", "dispute_awaiting"):
            gateway.open_dispute(
                charge=payment.stripe_charge_id,
                amount_pennies=payment.amount_pennies,
                currency=payment.currency,
                outcome=""
                if act == "dispute_awaiting"
                else rng.choice(["won", "lost"]),
            )
            report.add("disputes")
