"""The order state machine: the one place an order's status changes.

`TRANSITIONS` is the table; docs/order_state_machine.md draws it and a test holds
the two together. Every transition writes an OrderStatusChange row and an audit row
in the same transaction; an illegal one raises IllegalTransition (HTTP 409).
"""

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from catalog.services.stock import stock_release
from core.exceptions import DomainError, IllegalTransition
from orders.messages import order_status_message_send
from orders.models import Order, OrderStatusChange

S = Order.Status
STRIPE = "stripe"  # the actor label of what Stripe's events change


class By:
    """Who drives a transition."""

    CUSTOMER = "customer"
    OPS = "ops"
    PAYMENTS = "payments"
    SYSTEM = "system"


@dataclass(frozen=True)
class Transition:
    source: str
    target: str
    by: frozenset[str]
    requires_full_refund: bool = False
    # Back to paid after a full refund un-happened: the order keeps its paid_at and
    # loses canceled_at, so its fields match an order that never was canceled.
    reopens: bool = False


TRANSITIONS = [
    Transition(S.PENDING, S.PAID, frozenset({By.PAYMENTS})),
    Transition(S.PAID, S.FULFILLED, frozenset({By.OPS})),
    Transition(S.PENDING, S.CANCELED, frozenset({By.CUSTOMER, By.OPS, By.SYSTEM})),
    Transition(
        S.PAID,
        S.CANCELED,
        frozenset({By.OPS, By.PAYMENTS}),
        requires_full_refund=True,
    ),
    # A refund that canceled a paid order failed or was reversed, or a payment made
    # before the checkout expired arrived after the expiry: the sale stands.
    Transition(S.CANCELED, S.PAID, frozenset({By.PAYMENTS}), reopens=True),
]
_TABLE = {(t.source, t.target): t for t in TRANSITIONS}

# Timestamp set when an order enters a status.
_ENTERED_AT = {
    S.PAID: "paid_at",
    S.FULFILLED: "fulfilled_at",
    S.CANCELED: "canceled_at",
}


def allowed_targets(order: Order, by: str) -> list[str]:
    return [
        t.target
        for t in TRANSITIONS
        if t.source == order.status
        and by in t.by
        and (
            not t.requires_full_refund or order.refund_status == Order.RefundStatus.FULL
        )
        and not t.reopens
    ]


def _lock(order: Order) -> Order:
    return Order.objects.select_for_update().get(pk=order.pk)


def order_transition(
    *,
    order: Order,
    to: str,
    by: str,
    actor=None,
    note: str = "",
    at=None,
    already_locked: bool = False,
) -> Order:
    """Move `order` to status `to`, driven by `by` (a By value).

    Locks the order row, checks the table, sets the entry timestamp (`at`, default
    now) and writes the status change and audit rows. A canceled pending order
    releases its stock reservations. Other order fields change only through the
    named services below (order_fulfil, order_mark_paid, order_payment_set, …).

    `already_locked`: `order` was read with select_for_update in the transaction
    that is open now (the payment ledger does), so it is not read again and runs
    in that transaction without a savepoint of its own.
    """
    return _with_lock(
        order,
        already_locked,
        lambda locked: _transition(locked, to, by, actor, note, at, {}),
    )


def _with_lock(order: Order, already_locked: bool, work):
    if not already_locked:
        with transaction.atomic():
            return work(_lock(order))
    if not transaction.get_connection().in_atomic_block:
        raise ValueError("already_locked needs the transaction that locked it")
    return work(order)


def _transition(locked: Order, to, by, actor, note, at, fields) -> Order:
    transition = _TABLE.get((locked.status, to))
    if transition is None:
        raise IllegalTransition(
            f"Order {locked.number} is {locked.get_status_display().lower()}: "
            f"it cannot become {Order.Status(to).label.lower()}."
        )
    if by not in transition.by:
        raise IllegalTransition(
            f"Order {locked.number}: {by} cannot move an order from "
            f"{locked.status} to {to}."
        )
    if transition.requires_full_refund and locked.refund_status != "full":
        raise IllegalTransition(
            f"Order {locked.number} is paid: cancel it only together with a full "
            "refund."
        )
    if transition.reopens and locked.refund_status == "full":
        raise IllegalTransition(
            f"Order {locked.number} is fully refunded: it stays canceled."
        )
    source = locked.status
    locked.status = to
    update_fields = ["status", "updated_at"]
    if transition.reopens:
        # Paid again: by a payment that came before its checkout expired (paid_at
        # from it), or because the full refund that canceled it failed (kept).
        locked.canceled_at = None
        update_fields.append("canceled_at")
        if locked.paid_at is None:
            locked.paid_at = at or timezone.now()
            update_fields.append("paid_at")
    else:
        stamp = _ENTERED_AT.get(to)
        if stamp:
            setattr(locked, stamp, at or timezone.now())
            update_fields.append(stamp)
    for name, value in fields.items():
        setattr(locked, name, value)
        update_fields.append(name)
    locked.save(update_fields=update_fields)
    OrderStatusChange.objects.create(
        order=locked, from_status=source, to_status=to, actor=actor, by=by, note=note
    )
    if source == S.PENDING and to == S.CANCELED:
        stock_release(holder=locked.holder)
    audit_record(
        event_type=f"order.{to}",
        actor=actor,
        actor_label="" if actor else by,
        target=locked,
        metadata={"number": locked.number, "from": source, "to": to, "by": by}
        | ({"note": note} if note else {})
        | {k: str(v) for k, v in fields.items()},
    )
    order_status_message_send(order=locked)  # confirmation / dispatch, after commit
    return locked


def order_mark_paid(
    *, order: Order, at, payment_intent: str, charge: str, already_locked: bool
) -> Order:
    """The payments pipeline marks a pending order paid by its payment (Stripe
    time `at`, the payment's ids). Writes the status change and audit rows."""
    fields = {
        "stripe_payment_intent": payment_intent,
        "stripe_charge_id": charge,
        "payment_processing_since": None,
    }
    return _with_lock(
        order,
        already_locked,
        lambda locked: _transition(locked, S.PAID, By.PAYMENTS, None, "", at, fields),
    )


def order_payment_set(
    *, order: Order, at, payment_intent: str, charge: str, already_locked: bool
) -> Order:
    """The order's payment is now another one (an earlier payment by Stripe time
    arrived late): paid_at and the Stripe ids follow it. Audited when they change."""

    def change(locked: Order) -> Order:
        new = {
            "paid_at": at,
            "stripe_payment_intent": payment_intent,
            "stripe_charge_id": charge,
        }
        old = {name: getattr(locked, name) for name in new}
        if old == new:
            return locked
        for name, value in new.items():
            setattr(locked, name, value)
        locked.save(update_fields=[*new, "updated_at"])
        audit_record(
            event_type="order.payment_changed",
            actor_label=STRIPE,
            target=locked,
            metadata={"number": locked.number}
            | {f"from_{k}": str(v or "") for k, v in old.items()}
            | {k: str(v or "") for k, v in new.items()},
        )
        return locked

    return _with_lock(order, already_locked, change)


def order_payment_intent_set(*, order: Order, payment_intent: str) -> None:
    """Remember the PaymentIntent a checkout session made for a pending order
    (until a payment names the order's own)."""
    Order.objects.filter(pk=order.pk, stripe_payment_intent="").update(
        stripe_payment_intent=payment_intent
    )


def order_charge_set(*, order_id: int, charge: str) -> None:
    """Fill in the charge of the order's payment once Stripe names it."""
    Order.objects.filter(pk=order_id, stripe_charge_id="").update(
        stripe_charge_id=charge
    )


def order_refunds_set(
    *, order: Order, refunded_pennies: int, refund_status: str, refunded_at
) -> bool:
    """Write what the refund ledger says of a locked order; returns whether it
    changed (audited as `order.refund_status` then)."""
    new = (refunded_pennies, refund_status, refunded_at)
    if (order.refunded_pennies, order.refund_status, order.refunded_at) == new:
        return False
    order.refunded_pennies, order.refund_status, order.refunded_at = new
    order.save(
        update_fields=["refunded_pennies", "refund_status", "refunded_at", "updated_at"]
    )
    audit_record(
        event_type="order.refund_status",
        actor_label=STRIPE,
        target=order,
        metadata={"refunded_pennies": refunded_pennies, "refund_status": refund_status},
    )
    return True


def order_processing_set(*, order: Order, since) -> None:
    """A delayed payment method (a bank debit) is processing since Stripe time
    `since`; None when it ended. Shown to the customer and ops."""
    Order.objects.filter(pk=order.pk).update(payment_processing_since=since)


def order_fulfil(
    *, order: Order, actor, tracking_reference: str = "", carrier: str = ""
) -> Order:
    """Ops marks a paid order as shipped, with an optional carrier (a key of
    settings.CARRIERS) and tracking reference."""
    if carrier and carrier not in settings.CARRIERS:
        raise DomainError(f"Unknown carrier {carrier!r}: choose one of the list.")
    fields = {
        "tracking_reference": tracking_reference.strip()[:100],
        "carrier": carrier,
    }
    return _with_lock(
        order,
        False,
        lambda locked: _transition(
            locked, S.FULFILLED, By.OPS, actor, "", None, fields
        ),
    )


def order_cancel(*, order: Order, actor, by: str, note: str = "") -> Order:
    """Cancel a pending order (customer or ops); its reservations are released."""
    return order_transition(order=order, to=S.CANCELED, by=by, actor=actor, note=note)


def orders_bulk_fulfil(*, orders, actor) -> tuple[list[Order], list[str]]:
    """Fulfil each order on its own; returns the fulfilled and the refusals."""
    done, refused = [], []
    for order in sorted(orders, key=lambda o: o.pk):
        try:
            done.append(order_fulfil(order=order, actor=actor))
        except IllegalTransition as exc:
            refused.append(str(exc))
    return done, refused
