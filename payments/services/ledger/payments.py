"""Payments and the order they pay.

An order's payment is chosen by a rule that does not depend on arrival: of the
payments that match the order (currency and amount), the earliest by Stripe time,
ties by Stripe id. Every other matching payment is a "paid twice" case, whichever
came first; a payment that does not match is a case of its own kind.
"""

import datetime as dt

from django.db import IntegrityError, transaction

from accounts.models import User
from audit.services import audit_record
from catalog.services.stock import StockOversellError, stock_sell
from core.money import format_money
from orders.models import Order
from orders.services.lifecycle import (
    order_charge_set,
    order_mark_paid,
    order_payment_set,
    order_processing_set,
)
from payments.locks import (
    lock_order,
    lock_order_payments,
    lock_payment_and_order,
    lock_payments,
    payment_lookup,
)
from payments.models import Payment, StripeEvent
from payments.services.ledger.cases import STRIPE, Kind, exception_raise
from payments.services.ledger.refunds import order_sync_refunds

# The note of a pending order canceled because its checkout page expired.
CHECKOUT_EXPIRED = "checkout expired"


def customer_for(*, order: Order | None, email: str = "") -> User | None:
    if order is not None:
        return order.customer
    if email:
        return User.objects.filter(email__iexact=email).first()
    return None


def payment_record(
    *,
    payment_intent: str,
    charge: str,
    amount_pennies: int,
    currency: str,
    paid_at: dt.datetime,
    order: Order | None,
    email: str = "",
    stripe_customer: str = "",
    source: str | None = None,
) -> Payment:
    """Upsert the payment of a succeeded PaymentIntent (or lone charge) and settle
    its order's payments (`payments_settle`).

    A known payment only gains a missing charge id: its amount and paid_at are
    Stripe's and the same in every event. Locks Order → Payment. Writes the
    payment, a `payment.recorded` audit row when new, and what settling writes.
    """
    known_order, payment = lock_payment_and_order(
        payment_intent=payment_intent, charge=charge
    )
    if payment is None:
        locked_order = lock_order(order.pk) if order is not None else None
        # Another delivery may have recorded it while this one waited for the order.
        known_order, payment = locked_order, _find_locked(payment_intent, charge)
        if payment is None:
            payment = _create(
                payment_intent=payment_intent,
                charge=charge,
                amount_pennies=amount_pennies,
                currency=currency,
                paid_at=paid_at,
                order=locked_order,
                email=email,
                stripe_customer=stripe_customer,
                source=source,
            )
    if charge and not payment.stripe_charge_id:
        payment = _attach_charge(payment, charge)
    if known_order is not None:
        payments_settle(order=known_order)
        payment.refresh_from_db()
    return payment


def _find_locked(payment_intent: str, charge: str) -> Payment | None:
    condition = payment_lookup(payment_intent=payment_intent, charge=charge)
    pks = Payment.objects.filter(condition).values_list("pk", flat=True)
    locked = lock_payments(pks)
    return locked[0] if locked else None


def _create(*, payment_intent, charge, order, email, source, **fields) -> Payment:
    try:
        with transaction.atomic():
            payment = Payment.objects.create(
                stripe_payment_intent=payment_intent or None,
                stripe_charge_id=charge or None,
                stripe_customer_id=fields.pop("stripe_customer"),
                order=order,
                # An order's customer is its row's id: no need to load it.
                customer_id=order.customer_id
                if order is not None
                else getattr(customer_for(order=None, email=email), "pk", None),
                source=source
                or (Payment.Source.ORDER if order else Payment.Source.OTHER),
                **fields,
            )
    except IntegrityError:  # an order-less payment recorded meanwhile
        return _find_locked(payment_intent, charge)
    audit_record(
        event_type="payment.recorded",
        actor_label=STRIPE,
        target=order or payment,
        metadata={
            "payment": payment.stripe_id,
            "amount_pennies": payment.amount_pennies,
            "currency": payment.currency,
        },
    )
    return payment


def _attach_charge(payment: Payment, charge: str) -> Payment:
    payment.stripe_charge_id = charge
    payment.save(update_fields=["stripe_charge_id", "updated_at"])
    if payment.applied:
        order_charge_set(order_id=payment.order_id, charge=charge)
    return payment


def payment_charge_attach(*, payment_intent: str, charge: str) -> Payment | None:
    """charge.succeeded for a PaymentIntent: the payment learns its charge id.
    None when the payment is not recorded yet. Locks Order → Payment."""
    _order, payment = lock_payment_and_order(payment_intent=payment_intent)
    if payment is not None and not payment.stripe_charge_id:
        _attach_charge(payment, charge)
    return payment


def _stripe_order(payment: Payment) -> tuple:
    return (payment.paid_at, payment.stripe_id)


def _mismatch(payment: Payment, order: Order) -> tuple[str, str]:
    if payment.currency != order.currency.upper():
        return Kind.CURRENCY_MISMATCH, (
            f"Paid in {payment.currency}; order {order.number} is in {order.currency}."
        )
    if payment.amount_pennies != order.total_pennies:
        return Kind.AMOUNT_MISMATCH, (
            f"Paid {format_money(payment.amount_pennies, payment.currency)} but "
            f"order {order.number} totals {format_money(order.total_pennies)}."
        )
    return "", ""


def payments_settle(*, order: Order) -> Payment | None:
    """Decide which of a locked order's payments pays it, and what the others are.

    The order's payment is the earliest matching one by Stripe time (ties by id).
    A pending order it pays becomes paid, taking its stock (an oversell leaves it
    pending and opens a case); an order already paid follows the earliest payment
    (`order_payment_set`) without touching stock again. Other matching payments
    are "paid twice" cases, or "paid after cancel" for an order canceled before
    any payment. Idempotent. Returns the applied payment, if any.
    """
    payments = lock_order_payments(order)
    problems: dict[int, tuple[str, str]] = {}
    for payment in payments:
        kind, message = _mismatch(payment, order)
        if kind:
            problems[payment.pk] = (kind, message)
    matching = sorted((p for p in payments if p.pk not in problems), key=_stripe_order)
    current = next((p for p in payments if p.applied), None)
    applied = None
    if matching:
        chosen = matching[0]
        if order.status == Order.Status.PENDING or _expired_before(order, chosen):
            applied = _sell(order, chosen, matching, problems)
        elif current is None:  # canceled before any payment applied
            for payment in matching:
                problems[payment.pk] = (
                    Kind.PAID_AFTER_CANCEL,
                    f"Order {order.number} was canceled before this payment: "
                    "refund it.",
                )
        else:  # paid, fulfilled, or canceled by a full refund
            applied = chosen
            if chosen.pk != current.pk:
                order_payment_set(
                    order=order,
                    at=chosen.paid_at,
                    payment_intent=chosen.stripe_payment_intent or "",
                    charge=chosen.stripe_charge_id or "",
                    already_locked=True,
                )
        for payment in matching:
            if applied is not None and payment.pk != applied.pk:
                problems.setdefault(
                    payment.pk,
                    (
                        Kind.DUPLICATE_PAYMENT,
                        f"Order {order.number} is paid by {applied.stripe_id}: "
                        "refund this second payment.",
                    ),
                )
    for payment in payments:
        _mark(payment, applied, problems.get(payment.pk, ("", "")), order)
    if applied is not None and (current is None or current.pk != applied.pk):
        order_sync_refunds(order)
    return applied


def _expired_before(order: Order, payment: Payment) -> bool:
    """The order was canceled only because its checkout expired, at a Stripe time
    after this payment: the money came first, so the order is paid after all."""
    if order.status != Order.Status.CANCELED or order.paid_at is not None:
        return False
    last = order.status_changes.order_by("-pk").first()
    return (
        last is not None
        and last.to_status == Order.Status.CANCELED
        and last.note == CHECKOUT_EXPIRED
        and order.canceled_at is not None
        and payment.paid_at < order.canceled_at
    )


def _sell(order, chosen, matching, problems) -> Payment | None:
    # stock_sell runs in its own savepoint and raises before writing.
    try:
        stock_sell(
            holder=order.holder,
            quantities=dict(
                order.lines.filter(is_preorder=False).values_list(
                    "variant_id", "quantity"
                )
            ),
        )
    except StockOversellError as exc:
        for payment in matching:
            problems[payment.pk] = (
                Kind.OVERSELL,
                f"Order {order.number} was paid but {exc} Refund the customer.",
            )
        return None
    order_mark_paid(
        order=order,
        at=chosen.paid_at,
        payment_intent=chosen.stripe_payment_intent or "",
        charge=chosen.stripe_charge_id or "",
        already_locked=True,
    )
    return chosen


def _mark(payment: Payment, applied, problem: tuple[str, str], order: Order) -> None:
    kind, message = problem
    is_applied = applied is not None and payment.pk == applied.pk
    if (payment.applied, payment.problem) != (is_applied, kind):
        payment.applied, payment.problem = is_applied, kind
        payment.save(update_fields=["applied", "problem", "updated_at"])
    if kind:
        exception_raise(
            kind=kind,
            stripe_ref=payment.stripe_id,
            message=message,
            order=order,
            payment=payment,
        )


ENDS_PROCESSING = ("payment_intent.payment_failed", "payment_intent.canceled")


def payment_processing(
    *, order: Order, payment_intent: str, at: dt.datetime, ended: bool = False
) -> None:
    """A delayed payment of a pending order is processing since Stripe time `at`
    (`ended`: it failed at `at`). The newest news wins: a failure dated after the
    processing ends it whichever arrived first; a paid order shows none. Locks
    the order."""
    order = lock_order(order.pk)
    since = order.payment_processing_since
    if ended:
        if since is not None and since <= at:
            order_processing_set(order=order, since=None)
        return
    if order.status != Order.Status.PENDING or (since is not None and since >= at):
        return
    failed_later = StripeEvent.objects.filter(
        object_id=payment_intent, type__in=ENDS_PROCESSING, stripe_created__gte=at
    ).exists()
    if not failed_later:
        order_processing_set(order=order, since=at)
