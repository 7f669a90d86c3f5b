"""Refunds asked for from the ops console (docs/refund_policy.md)."""

import stripe
from django.db import transaction
from django.db.models import Sum

from audit.services import audit_record
from core.exceptions import DomainError
from core.money import format_money
from orders.models import Order
from payments.gateway import get_gateway
from payments.models import Payment, Refund
from payments.services.ledger import REFUND_STATUS_RANK, refund_settle
from payments.stripe_fields import ts

REASONS = [
    ("requested_by_customer", "Requested by the customer"),
    ("duplicate", "Duplicate"),
    ("fraudulent", "Fraudulent"),
]
OPEN_OR_DONE = [
    Refund.Status.PENDING,
    Refund.Status.REQUIRES_ACTION,
    Refund.Status.SUCCEEDED,
]


def order_payment(order: Order) -> Payment | None:
    return order.payments.filter(applied=True).first()


def refundable_pennies(order: Order) -> int:
    """The applied payment less refunds that succeeded or may still succeed."""
    payment = order_payment(order)
    if payment is None:
        return 0
    taken = payment.refunds.filter(status__in=OPEN_OR_DONE).aggregate(
        s=Sum("amount_pennies")
    )["s"]
    return max(payment.amount_pennies - (taken or 0), 0)


@transaction.atomic
def refund_issue(
    *,
    order: Order,
    amount_pennies: int,
    reason: str,
    restock: dict[int, int],
    actor,
    idempotency_key: str,
) -> Refund:
    """Ask Stripe to refund part or all of an order's payment.

    Idempotent on `idempotency_key` (a double click makes one refund). At most the
    refundable amount. The refund shows as pending until Stripe confirms it; stock
    in `restock` returns when it succeeds. Writes the refund and an audit row.
    """
    order = Order.objects.select_for_update().get(pk=order.pk)
    existing = Refund.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing
    payment = order_payment(order)
    if payment is None:
        raise DomainError(f"Order {order.number} has no payment to refund.")
    refundable = refundable_pennies(order)
    if amount_pennies <= 0:
        raise DomainError("Enter an amount above zero.")
    if amount_pennies > refundable:
        raise DomainError(
            f"At most {format_money(refundable, payment.currency)} can be refunded; "
            f"you asked for {format_money(amount_pennies, payment.currency)}."
        )
    if reason and reason not in dict(REASONS):
        raise DomainError("Choose a reason from the list.")
    bought = {line.variant_id: line.quantity for line in order.lines.all()}
    restock = {int(k): int(v) for k, v in restock.items() if int(v) > 0}
    for variant_id, quantity in restock.items():
        if quantity > bought.get(variant_id, 0):
            raise DomainError("Cannot restock more units than the order bought.")
    try:
        obj = _create_refund(order, payment, amount_pennies, reason, idempotency_key)
    except stripe.StripeError as exc:
        raise DomainError(
            f"Stripe refused the refund: {exc.user_message or exc}"
        ) from exc
    created = ts(obj.get("created"))
    status = obj.get("status") if obj.get("status") in REFUND_STATUS_RANK else "pending"
    refund, _ = Refund.objects.select_for_update().get_or_create(
        stripe_refund_id=obj["id"],
        defaults={
            "payment": payment,
            "stripe_charge_id": obj.get("charge") or payment.stripe_charge_id or "",
            "stripe_payment_intent": payment.stripe_payment_intent or "",
            "amount_pennies": amount_pennies,
            "currency": payment.currency,
            "status": status,
            "status_at": created,
            "reason": reason,
            "stripe_created": created,
        },
    )
    refund.idempotency_key = idempotency_key
    refund.requested_by = actor
    refund.restock = {str(k): v for k, v in restock.items()}
    refund.save()
    audit_record(
        event_type="refund.requested",
        actor=actor,
        target=order,
        metadata={
            "refund": refund.stripe_refund_id,
            "amount_pennies": amount_pennies,
            "reason": reason,
            "restock": refund.restock,
        },
    )
    refund_settle(refund)
    return refund


def _create_refund(order, payment, amount_pennies, reason, idempotency_key) -> dict:
    refunded_before = payment.refunds.filter(status=Refund.Status.SUCCEEDED).aggregate(
        s=Sum("amount_pennies")
    )["s"]
    return get_gateway().create_refund(
        payment_intent=payment.stripe_payment_intent or "",
        charge=payment.stripe_charge_id or "",
        amount_pennies=amount_pennies,
        reason=reason,
        idempotency_key=idempotency_key,
        metadata={"order_id": str(order.pk), "order_number": order.number},
        charge_amount_pennies=payment.amount_pennies,
        refunded_before_pennies=refunded_before or 0,
    )
