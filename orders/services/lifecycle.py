"""The order state machine: the one place an order's status changes.

`TRANSITIONS` is the table; docs/order_state_machine.md draws it and a test holds
the two together. Every transition writes an OrderStatusChange row and an audit row
in the same transaction; an illegal one raises IllegalTransition (HTTP 409).
"""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from catalog.services.stock import stock_release
from core.exceptions import IllegalTransition
from orders.models import Order, OrderStatusChange

S = Order.Status


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
    **fields,
) -> Order:
    """Move `order` to status `to`, driven by `by` (a By value).

    Locks the order row, checks the table, sets the entry timestamp (`at`, default
    now) and any extra `fields`, and writes the status change and audit rows. A
    canceled pending order releases its stock reservations.

    `already_locked`: `order` was read with select_for_update in the transaction
    that is open now (the payment ledger does), so it is not read again and runs
    in that transaction without a savepoint of its own.
    """
    if not already_locked:
        with transaction.atomic():
            return _transition(_lock(order), to, by, actor, note, at, fields)
    if not transaction.get_connection().in_atomic_block:
        raise ValueError("already_locked needs the transaction that locked it")
    return _transition(order, to, by, actor, note, at, fields)


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
    source = locked.status
    locked.status = to
    update_fields = ["status", "updated_at"]
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
    return locked


def order_fulfil(*, order: Order, actor, tracking_reference: str = "") -> Order:
    """Ops marks a paid order as shipped, with an optional tracking reference."""
    return order_transition(
        order=order,
        to=S.FULFILLED,
        by=By.OPS,
        actor=actor,
        tracking_reference=tracking_reference.strip()[:100],
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
