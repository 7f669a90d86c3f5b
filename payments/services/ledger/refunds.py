"""Refunds in the ledger, and what a refund's state means for stock, ops and the
order (docs/refund_policy.md).

A refund's life is pending → succeeded → (failed | canceled): a refund can
un-happen (Stripe reverses a failed one through its failure balance transaction).
Its newest state by Stripe time wins, so `refund.failed` before `refund.created`
ends where Stripe's order ends: failed, nothing refunded, stock not returned, a
case for ops, and an order canceled only by that refund paid again.
"""

import datetime as dt

from django.db import IntegrityError, transaction
from django.db.models import Max, Q, Sum

from audit.services import audit_record
from catalog.services.stock import stock_restock, stock_restock_reverse
from core.money import format_money
from orders.messages import order_refund_message_send
from orders.models import Order
from orders.services.lifecycle import By, order_refunds_set, order_transition
from payments.locks import lock_payment_and_order, lock_refund
from payments.models import Payment, Refund, RefundRequest
from payments.services.ledger.cases import STRIPE, Kind, exception_raise
from payments.stripe_fields import newest_wins, payment_intent_id, text

# For two states stamped the same second, the later one in a refund's life wins.
REFUND_STATUS_RANK = {
    "pending": 0,
    "requires_action": 1,
    "succeeded": 2,
    "failed": 3,
    "canceled": 3,
}
# Refunds that succeeded or may still succeed: what is no longer refundable.
REFUND_TAKEN = ("pending", "requires_action", "succeeded")


def refund_status(obj: dict) -> str:
    """Stripe's status of a refund object; one we do not know counts as pending
    (it is not money back until Stripe says succeeded)."""
    status = obj.get("status")
    return status if status in REFUND_STATUS_RANK else Refund.Status.PENDING


def refund_record(
    *, obj: dict, seen_at: dt.datetime, created: dt.datetime | None = None
) -> Refund | None:
    """Upsert one Stripe refund by its id; its newest state (by Stripe time) wins.

    Returns None, writing nothing, while the refund's payment is unknown. Links
    the ops request that asked for it (by the request's key in the metadata, or
    its Stripe id) so restock and who asked travel with it. Locks Order → Payment
    → Refund, then settles (`refund_settle`). Writes the refund, and what
    settling writes.
    """
    order, payment = lock_payment_and_order(
        payment_intent=payment_intent_id(obj), charge=text(obj, "charge")
    )
    if payment is None:
        return None
    created = created or seen_at
    status = refund_status(obj)
    fields = {
        "amount_pennies": obj.get("amount")
        if isinstance(obj.get("amount"), int)
        else 0,
        "currency": (obj.get("currency") or payment.currency or "").upper()[:3],
        "status": status,
        "status_at": seen_at,
        "reason": obj.get("reason") or "",
    }
    refund = lock_refund(obj["id"])
    if refund is None:
        try:
            with transaction.atomic():
                refund = Refund.objects.create(
                    stripe_refund_id=obj["id"],
                    payment=payment,
                    stripe_charge_id=text(obj, "charge")
                    or payment.stripe_charge_id
                    or "",
                    stripe_payment_intent=payment.stripe_payment_intent or "",
                    stripe_created=created,
                    **fields,
                )
        except IntegrityError:  # an order-less payment's refund, recorded meanwhile
            refund = lock_refund(obj["id"])
    elif newest_wins(
        new=(seen_at, status),
        old=(refund.status_at, refund.status),
        ranks=REFUND_STATUS_RANK,
    ):
        for name, value in fields.items():
            setattr(refund, name, value)
    refund.payment = payment
    refund.stripe_created = min(refund.stripe_created, created)
    _link_request(refund, obj)
    refund.save()
    refund_settle(refund, order=order)
    return refund


def _link_request(refund: Refund, obj: dict) -> None:
    """The ops request for this refund's payment behind it, if any: marked sent,
    its key, who asked and what to restock copied onto the refund (the order's
    lock is held)."""
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    key = metadata.get("refund_request")
    condition = Q(stripe_refund_id=refund.stripe_refund_id)
    if isinstance(key, str) and key:
        condition |= Q(idempotency_key=key)
    # Only a request for this refund's payment: a key in another refund's
    # metadata (a copied refund, a reused key) never claims it.
    request = (
        RefundRequest.objects.filter(condition, payment=refund.payment)
        .order_by("pk")
        .first()
    )
    if request is None:
        return
    if request.status == RefundRequest.Status.REFUSED:
        # Stripe's error was wrong about the outcome: the refund exists after all.
        audit_record(
            event_type="refund.request_made_after_refusal",
            actor_label=STRIPE,
            target=request.order,
            metadata={
                "idempotency_key": request.idempotency_key,
                "refund": refund.stripe_refund_id,
                "error": request.last_error,
            },
        )
    if request.status != RefundRequest.Status.SENT or not request.stripe_refund_id:
        request.status = RefundRequest.Status.SENT
        request.stripe_refund_id = refund.stripe_refund_id
        request.save(update_fields=["status", "stripe_refund_id", "updated_at"])
    refund.idempotency_key = request.idempotency_key
    refund.requested_by_id = request.requested_by_id
    refund.restock = request.restock
    if request.reason and not refund.reason:
        refund.reason = request.reason


def refund_settle(refund: Refund, *, order: Order | None) -> None:
    """What a refund's current state means for stock, ops and the (locked) order.

    Succeeded: the units ops asked to restock return, once. Failed or canceled
    after they returned: they go out again (the refund un-happened). Failed: a
    "Refund failed" case asks ops to act. Then the order's refund fields are
    recomputed (`order_sync_refunds`).
    """
    payment = refund.payment
    if refund.status == Refund.Status.FAILED:
        exception_raise(
            kind=Kind.REFUND_FAILED,
            stripe_ref=refund.stripe_refund_id,
            message=f"Refund {refund.stripe_refund_id} of "
            f"{format_money(refund.amount_pennies, refund.currency)} failed: the "
            "customer has not been paid back. Refund again or contact them.",
            order=order,
            payment=payment,
        )
    if order is not None and refund.restock:
        quantities = {int(k): int(v) for k, v in refund.restock.items()}
        note = f"refund {refund.stripe_refund_id}"
        if refund.status == Refund.Status.SUCCEEDED and refund.restocked_at is None:
            stock_restock(
                holder=order.holder,
                quantities=quantities,
                note=note,
                actor=refund.requested_by,
            )
            refund.restocked_at = refund.status_at
            refund.save(update_fields=["restocked_at", "updated_at"])
        elif refund.status in (Refund.Status.FAILED, Refund.Status.CANCELED) and (
            refund.restocked_at is not None
        ):
            stock_restock_reverse(
                holder=order.holder, quantities=quantities, note=f"{note} failed"
            )
            refund.restocked_at = None
            refund.save(update_fields=["restocked_at", "updated_at"])
    if order is not None and payment.applied:
        order_sync_refunds(order)
        if refund.status == Refund.Status.SUCCEEDED:
            order_refund_message_send(order=order, refund=refund)


def order_sync_refunds(order: Order) -> Order:
    """Recompute a locked order's refunded_pennies, refund_status and refunded_at
    from the succeeded refunds of its applied payment. A paid order fully refunded
    is canceled; an order canceled by a full refund that un-happened is paid again
    (docs/refund_policy.md)."""
    totals = Refund.objects.filter(
        payment__order=order, payment__applied=True, status=Refund.Status.SUCCEEDED
    ).aggregate(total=Sum("amount_pennies"), latest=Max("stripe_created"))
    refunded = min(totals["total"] or 0, order.total_pennies)
    if refunded == 0:
        state = Order.RefundStatus.NONE
    elif refunded >= order.total_pennies:
        state = Order.RefundStatus.FULL
    else:
        state = Order.RefundStatus.PARTIAL
    order_refunds_set(
        order=order,
        refunded_pennies=refunded,
        refund_status=state,
        refunded_at=totals["latest"] if refunded else None,
    )
    if state == Order.RefundStatus.FULL and order.status == Order.Status.PAID:
        order = order_transition(
            order=order,
            to=Order.Status.CANCELED,
            by=By.PAYMENTS,
            note="fully refunded",
            already_locked=True,
        )
    elif (
        state != Order.RefundStatus.FULL
        and order.status == Order.Status.CANCELED
        and Payment.objects.filter(order=order, applied=True).exists()
    ):
        order = order_transition(
            order=order,
            to=Order.Status.PAID,
            by=By.PAYMENTS,
            note="no longer fully refunded: the sale stands",
            already_locked=True,
        )
    return order
