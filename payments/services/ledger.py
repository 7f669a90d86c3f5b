"""The payment ledger: payments, refunds, disputes, and the order fields that follow.

Order money fields are recomputed from the ledger (never incremented per event),
so any order of events, with any repeats, ends in the same state.
"""

import datetime as dt

from django.db import IntegrityError, transaction
from django.db.models import Max, Q, Sum
from django.utils import timezone

from accounts.models import User
from audit.services import audit_record
from catalog.services.stock import StockOversellError, stock_restock, stock_sell
from core.money import format_money
from orders.models import Order
from orders.services.lifecycle import By, order_transition
from payments.models import Dispute, Payment, PaymentException, Refund

STRIPE = "stripe"
Kind = PaymentException.Kind
# For two updates stamped the same second, the later state in a refund's life wins.
REFUND_STATUS_RANK = {
    "pending": 0,
    "requires_action": 1,
    "succeeded": 2,
    "failed": 3,
    "canceled": 3,
}
DISPUTE_STATUS_RANK = {
    "warning_needs_response": 0,
    "needs_response": 0,
    "warning_under_review": 1,
    "under_review": 1,
    "warning_closed": 2,
    "won": 2,
    "lost": 2,
    "charge_refunded": 2,
    "prevented": 2,
}


def customer_for(*, order: Order | None, email: str = "") -> User | None:
    if order is not None:
        return order.customer
    if email:
        return User.objects.filter(email__iexact=email).first()
    return None


def exception_raise(
    *, kind: str, stripe_ref: str, message: str, order=None, payment=None
) -> PaymentException:
    """Open a case for ops (once per kind and Stripe object)."""
    case, created = PaymentException.objects.get_or_create(
        kind=kind,
        stripe_ref=stripe_ref,
        defaults={"message": message, "order": order, "payment": payment},
    )
    if created:
        audit_record(
            event_type=f"payment_exception.{kind}",
            actor_label=STRIPE,
            target=order or payment or case,
            metadata={"stripe_ref": stripe_ref, "message": message},
        )
    return case


def payment_find(*, payment_intent: str = "", charge: str = "") -> Payment | None:
    condition = Q()
    if payment_intent:
        condition |= Q(stripe_payment_intent=payment_intent)
    if charge:
        condition |= Q(stripe_charge_id=charge)
    if not condition:
        return None
    return Payment.objects.select_for_update().filter(condition).order_by("pk").first()


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
    """Upsert the payment for a succeeded PaymentIntent (or lone charge) and, when it
    belongs to an order of ours, apply it. A known payment only gains a missing
    charge id: amount and paid_at are fixed by the first event that records it."""
    payment = payment_find(payment_intent=payment_intent, charge=charge)
    if payment is None:
        try:
            with transaction.atomic():
                payment = Payment.objects.create(
                    stripe_payment_intent=payment_intent or None,
                    stripe_charge_id=charge or None,
                    stripe_customer_id=stripe_customer,
                    order=order,
                    # An order's customer is its row's id: no need to load it.
                    customer_id=order.customer_id
                    if order is not None
                    else getattr(customer_for(order=None, email=email), "pk", None),
                    source=source
                    or (Payment.Source.ORDER if order else Payment.Source.OTHER),
                    amount_pennies=amount_pennies,
                    currency=currency,
                    paid_at=paid_at,
                )
        except IntegrityError:  # recorded meanwhile by a concurrent event
            payment = payment_find(payment_intent=payment_intent, charge=charge)
        else:
            audit_record(
                event_type="payment.recorded",
                actor_label=STRIPE,
                target=order or payment,
                metadata={
                    "payment": payment.stripe_id,
                    "amount_pennies": amount_pennies,
                    "currency": currency,
                },
            )
    elif charge and not payment.stripe_charge_id:
        payment_attach_charge(payment=payment, charge=charge)
    if payment.order_id and not payment.applied:
        payment_apply(payment)
    return payment


def payment_attach_charge(*, payment: Payment, charge: str) -> Payment:
    if payment.stripe_charge_id:
        return payment
    payment.stripe_charge_id = charge
    payment.save(update_fields=["stripe_charge_id", "updated_at"])
    if payment.applied:
        Order.objects.filter(pk=payment.order_id, stripe_charge_id="").update(
            stripe_charge_id=charge
        )
    return payment


def payment_apply(payment: Payment) -> Payment:
    """Mark the payment's order paid, taking its stock, when everything matches.

    Otherwise the payment stays recorded (it is money Stripe holds) and a case is
    opened for ops: oversell, amount or currency mismatch, a second payment for a
    paid order, or a payment for a canceled order.
    """
    order = Order.objects.select_for_update().get(pk=payment.order_id)
    problem, message = "", ""
    if order.status == Order.Status.PENDING:
        if payment.currency != order.currency.upper():
            problem = Kind.CURRENCY_MISMATCH
            message = (
                f"Paid in {payment.currency}; order {order.number} is in "
                f"{order.currency}."
            )
        elif payment.amount_pennies != order.total_pennies:
            problem = Kind.AMOUNT_MISMATCH
            message = (
                f"Paid {format_money(payment.amount_pennies, payment.currency)} but "
                f"order {order.number} totals {format_money(order.total_pennies)}."
            )
        else:
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
                problem = Kind.OVERSELL
                message = (
                    f"Order {order.number} was paid but {exc} Refund the customer."
                )
    elif order.status == Order.Status.CANCELED:
        problem = Kind.PAID_AFTER_CANCEL
        message = f"Order {order.number} was canceled before this payment: refund it."
    else:
        problem = Kind.DUPLICATE_PAYMENT
        message = f"Order {order.number} was already paid: refund this second payment."
    if problem:
        payment.problem = problem
        payment.save(update_fields=["problem", "updated_at"])
        exception_raise(
            kind=problem,
            stripe_ref=payment.stripe_id,
            message=message,
            order=order,
            payment=payment,
        )
        return payment
    order_transition(
        order=order,
        already_locked=True,
        to=Order.Status.PAID,
        by=By.PAYMENTS,
        at=payment.paid_at,
        stripe_payment_intent=payment.stripe_payment_intent or "",
        stripe_charge_id=payment.stripe_charge_id or "",
    )
    payment.applied, payment.problem = True, ""
    payment.save(update_fields=["applied", "problem", "updated_at"])
    return payment


def refund_upsert(
    *, obj: dict, seen_at: dt.datetime, payment: Payment, created: dt.datetime
) -> Refund:
    """Upsert one Stripe refund by its id; the newest status (by Stripe time) wins.

    Succeeded: restock what ops asked for (once) and resync the order. Failed:
    a case for ops.
    """
    refund_id = obj["id"]
    status = obj.get("status") if obj.get("status") in REFUND_STATUS_RANK else "pending"
    refund = (
        Refund.objects.select_for_update().filter(stripe_refund_id=refund_id).first()
    )
    fields = {
        "amount_pennies": obj.get("amount")
        if isinstance(obj.get("amount"), int)
        else 0,
        "currency": (obj.get("currency") or payment.currency or "").upper()[:3],
        "status": status,
        "status_at": seen_at,
        "reason": obj.get("reason") or "",
    }
    if refund is None:
        try:
            with transaction.atomic():
                refund = Refund.objects.create(
                    stripe_refund_id=refund_id,
                    payment=payment,
                    stripe_charge_id=obj.get("charge")
                    or payment.stripe_charge_id
                    or "",
                    stripe_payment_intent=payment.stripe_payment_intent or "",
                    stripe_created=created,
                    **fields,
                )
        except IntegrityError:
            refund = Refund.objects.select_for_update().get(stripe_refund_id=refund_id)
    newer = (seen_at, REFUND_STATUS_RANK[status]) >= (
        refund.status_at,
        REFUND_STATUS_RANK.get(refund.status, 0),
    )
    if newer:
        for name, value in fields.items():
            setattr(refund, name, value)
    refund.payment = payment
    refund.stripe_created = min(refund.stripe_created, created)
    refund.save()
    refund_settle(refund)
    return refund


def refund_settle(refund: Refund) -> None:
    """What a refund's current status means for stock, ops and the order."""
    payment = refund.payment
    order = payment.order if payment else None
    if refund.status == Refund.Status.FAILED:
        exception_raise(
            kind=Kind.REFUND_FAILED,
            stripe_ref=refund.stripe_refund_id,
            message=f"Refund {refund.stripe_refund_id} of "
            f"{format_money(refund.amount_pennies, refund.currency)} failed.",
            order=order,
            payment=payment,
        )
    if (
        refund.status == Refund.Status.SUCCEEDED
        and refund.restock
        and refund.restocked_at is None
        and order is not None
    ):
        stock_restock(
            holder=order.holder,
            quantities={int(k): int(v) for k, v in refund.restock.items()},
            note=f"refund {refund.stripe_refund_id}",
            actor=refund.requested_by,
        )
        refund.restocked_at = timezone.now()
        refund.save(update_fields=["restocked_at", "updated_at"])
    if order is not None and payment.applied:
        order_sync_refunds(order)


def order_sync_refunds(order: Order) -> Order:
    """Recompute refunded_pennies, refund_status and refunded_at from the ledger;
    a paid order fully refunded is canceled (docs/refund_policy.md)."""
    order = Order.objects.select_for_update().get(pk=order.pk)
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
    refunded_at = totals["latest"] if refunded else None
    if (order.refunded_pennies, order.refund_status, order.refunded_at) != (
        refunded,
        state,
        refunded_at,
    ):
        order.refunded_pennies, order.refund_status = refunded, state
        order.refunded_at = refunded_at
        order.save(
            update_fields=[
                "refunded_pennies",
                "refund_status",
                "refunded_at",
                "updated_at",
            ]
        )
        audit_record(
            event_type="order.refund_status",
            actor_label=STRIPE,
            target=order,
            metadata={"refunded_pennies": refunded, "refund_status": state},
        )
    if state == Order.RefundStatus.FULL and order.status == Order.Status.PAID:
        order = order_transition(
            order=order, to=Order.Status.CANCELED, by=By.PAYMENTS, note="fully refunded"
        )
    return order


def dispute_upsert(
    *,
    obj: dict,
    seen_at: dt.datetime,
    payment: Payment | None,
    created: dt.datetime,
    withdrawn: int | None = None,
    reinstated: int | None = None,
) -> Dispute:
    status = obj.get("status") or "needs_response"
    dispute = (
        Dispute.objects.select_for_update().filter(stripe_dispute_id=obj["id"]).first()
    )
    if dispute is None:
        dispute = Dispute(
            stripe_dispute_id=obj["id"],
            status=status,
            status_at=seen_at,
            stripe_created=created,
        )
    if (seen_at, DISPUTE_STATUS_RANK.get(status, 0)) >= (
        dispute.status_at,
        DISPUTE_STATUS_RANK.get(dispute.status, 0),
    ):
        dispute.status, dispute.status_at = status, seen_at
    dispute.payment = payment
    dispute.stripe_charge_id = obj.get("charge") or ""
    dispute.amount_pennies = (
        obj.get("amount") if isinstance(obj.get("amount"), int) else 0
    )
    dispute.currency = (obj.get("currency") or "").upper()[:3]
    dispute.reason = obj.get("reason") or ""
    if withdrawn is not None:
        dispute.funds_withdrawn_pennies, dispute.funds_withdrawn_at = withdrawn, seen_at
    if reinstated is not None:
        dispute.funds_reinstated_pennies, dispute.funds_reinstated_at = (
            reinstated,
            seen_at,
        )
    dispute.save()
    if dispute.is_open:
        exception_raise(
            kind=Kind.DISPUTE,
            stripe_ref=dispute.stripe_dispute_id,
            message=f"Dispute {dispute.stripe_dispute_id} "
            f"({dispute.reason or 'no reason'}) for "
            f"{format_money(dispute.amount_pennies, dispute.currency)}: respond in the "
            "Stripe Dashboard.",
            order=payment.order if payment else None,
            payment=payment,
        )
    return dispute
