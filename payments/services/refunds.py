"""Refunds asked for from the ops console (docs/refund_policy.md).

Asking is three steps, and Stripe is called in none of the transactions: the
request is recorded with its idempotency key under the order's lock (so the
refundable amount counts it at once); Stripe is asked, outside any transaction;
its answer goes into the ledger like any refund event (`ledger.refund_record`).
A crash between the steps leaves a `requested` request that the webhook's
`refund.created` or the sweep (`refund_requests_resend`) completes with the same
key, so Stripe makes one refund whatever happens.
"""

import datetime as dt
from dataclasses import dataclass

import stripe
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Sum
from django.utils import timezone

from audit.services import audit_record
from core.exceptions import DomainError
from core.money import format_money
from orders.models import Order
from payments.gateway import get_gateway
from payments.locks import lock_order
from payments.models import Payment, Refund, RefundRequest
from payments.services.ledger import refund_record
from payments.services.ledger.refunds import REFUND_TAKEN
from payments.stripe_fields import ts

REASONS = [
    ("requested_by_customer", "Requested by the customer"),
    ("duplicate", "Duplicate"),
    ("fraudulent", "Fraudulent"),
]
# A request Stripe has not answered for this long is asked again (same key).
RESEND_AFTER = dt.timedelta(minutes=5)
RESEND_MAX_ATTEMPTS = 10


def order_payment(order: Order) -> Payment | None:
    return order.payments.filter(applied=True).first()


def refundable_pennies(order: Order) -> int:
    """The applied payment less refunds that succeeded or may still succeed and
    requests Stripe has not answered yet."""
    payment = order_payment(order)
    if payment is None:
        return 0
    taken = payment.refunds.filter(status__in=REFUND_TAKEN).aggregate(
        s=Sum("amount_pennies")
    )["s"]
    asked = payment.refund_requests.filter(
        status=RefundRequest.Status.REQUESTED
    ).aggregate(s=Sum("amount_pennies"))["s"]
    return max(payment.amount_pennies - (taken or 0) - (asked or 0), 0)


@dataclass(frozen=True)
class LinesRefunded:
    """What earlier refunds by line already took back: units per variant and
    whether the shipping charge went back."""

    units: dict[int, int]
    shipping: bool


def lines_refunded(order: Order) -> LinesRefunded:
    """Units and shipping already refunded by line: every request Stripe has not
    refused whose refund has not failed or been canceled (a failed line refund
    gives its units back to refund again)."""
    gone = Refund.objects.filter(
        idempotency_key=OuterRef("idempotency_key"),
        status__in=[Refund.Status.FAILED, Refund.Status.CANCELED],
    )
    units: dict[int, int] = {}
    shipping = False
    requests = (
        RefundRequest.objects.filter(order=order)
        .exclude(status=RefundRequest.Status.REFUSED)
        .exclude(Exists(gone))
        .values_list("lines", "shipping_pennies")
    )
    for lines, shipping_pennies in requests:
        for variant_id, quantity in lines.items():
            units[int(variant_id)] = units.get(int(variant_id), 0) + int(quantity)
        shipping = shipping or shipping_pennies > 0
    return LinesRefunded(units=units, shipping=shipping)


def line_refund_value(
    order: Order,
    lines: dict[int, int],
    shipping: bool,
    *,
    refunded: LinesRefunded | None = None,
) -> int:
    """The value in pennies of refunding `lines` ({variant id: units}) and, when
    `shipping`, the shipping charge: units at the price paid. Raises DomainError
    for more units than the order bought less those refunded before, or for a
    shipping charge that is nil or already refunded."""
    refunded = refunded if refunded is not None else lines_refunded(order)
    by_variant = {line.variant_id: line for line in order.lines.all()}
    value = 0
    for variant_id, quantity in lines.items():
        if quantity <= 0:
            continue
        line = by_variant.get(variant_id)
        if line is None:
            raise DomainError("Choose lines of this order.")
        left = line.quantity - refunded.units.get(variant_id, 0)
        if quantity > left:
            raise DomainError(
                f"{line.sku}: {left} of {line.quantity} can still be refunded; "
                f"you chose {quantity}."
            )
        value += line.unit_price_pennies * quantity
    if shipping:
        if not order.shipping_pennies:
            raise DomainError("This order has no shipping charge to refund.")
        if refunded.shipping:
            raise DomainError("The shipping charge has already been refunded.")
        value += order.shipping_pennies
    return value


def refund_issue(
    *,
    order: Order,
    amount_pennies: int,
    reason: str,
    restock: dict[int, int],
    actor,
    idempotency_key: str,
    lines: dict[int, int] | None = None,
    shipping: bool = False,
) -> Refund:
    """Ask Stripe to refund part or all of an order's payment.

    Idempotent on `idempotency_key` (a double click makes one refund). At most the
    refundable amount. Writes the request and a `refund.requested` audit row, asks
    Stripe (outside any transaction), then records Stripe's answer; the refund
    shows as pending until Stripe confirms it, and the units in `restock` return
    when it succeeds. With `lines` ({variant id: units}) and/or `shipping` it is a
    refund by line: the amount is at most what they are worth
    (`line_refund_value`). Raises DomainError with the reason when refused.
    """
    request = refund_request_open(
        order=order,
        amount_pennies=amount_pennies,
        reason=reason,
        restock=restock,
        actor=actor,
        idempotency_key=idempotency_key,
        lines=lines,
        shipping=shipping,
    )
    if request.status == RefundRequest.Status.REFUSED:
        raise DomainError(f"Stripe refused the refund: {request.last_error}")
    return refund_request_send(request=request)


@transaction.atomic(durable=True)
def refund_request_open(
    *,
    order: Order,
    amount_pennies: int,
    reason: str,
    restock: dict[int, int],
    actor,
    idempotency_key: str,
    lines: dict[int, int] | None = None,
    shipping: bool = False,
) -> RefundRequest:
    """Record a refund request under the order's lock, or return the one with this
    key. Validates amount, reason, lines and restock. Writes the request and an
    audit row."""
    order = lock_order(order.pk)
    existing = RefundRequest.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing
    payment = order_payment(order)
    if payment is None:
        raise DomainError(f"Order {order.number} has no payment to refund.")
    if amount_pennies <= 0:
        raise DomainError("Enter an amount above zero.")
    refundable = refundable_pennies(order)
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
    lines = {int(k): int(v) for k, v in (lines or {}).items() if int(v) > 0}
    if lines or shipping:
        worth = line_refund_value(order, lines, shipping)
        if amount_pennies > worth:
            raise DomainError(
                f"The chosen lines come to {format_money(worth, payment.currency)}; "
                f"you asked for {format_money(amount_pennies, payment.currency)}."
            )
    request = RefundRequest.objects.create(
        idempotency_key=idempotency_key,
        order=order,
        payment=payment,
        amount_pennies=amount_pennies,
        currency=payment.currency,
        reason=reason,
        restock={str(k): v for k, v in restock.items()},
        lines={str(k): v for k, v in lines.items()},
        shipping_pennies=order.shipping_pennies if shipping else 0,
        requested_by=actor,
    )
    audit_record(
        event_type="refund.requested",
        actor=actor,
        target=order,
        metadata={
            "idempotency_key": idempotency_key,
            "amount_pennies": amount_pennies,
            "reason": reason,
            "restock": request.restock,
            "lines": request.lines,
            "shipping_pennies": request.shipping_pennies,
        },
    )
    return request


def refund_request_send(*, request: RefundRequest) -> Refund:
    """Ask Stripe for the refund of a recorded request (again, with the same key,
    if it was asked before) and record the answer in the ledger. Must run outside
    any transaction. A refusal marks the request refused (audited) and raises
    DomainError; a network failure leaves it requested for the sweep."""
    existing = Refund.objects.filter(idempotency_key=request.idempotency_key).first()
    if existing is not None:
        return existing
    payment, order = request.payment, request.order
    RefundRequest.objects.filter(pk=request.pk).update(
        attempts=F("attempts") + 1, updated_at=timezone.now()
    )
    try:
        answer = get_gateway().create_refund(
            payment_intent=payment.stripe_payment_intent or "",
            charge=payment.stripe_charge_id or "",
            amount_pennies=request.amount_pennies,
            reason=request.reason,
            idempotency_key=request.idempotency_key,
            metadata={
                "order_id": str(order.pk),
                "order_number": order.number,
                "refund_request": request.idempotency_key,
            },
            charge_amount_pennies=payment.amount_pennies,
            refunded_before_pennies=_refunded_before(payment),
        )
    except stripe.StripeError as exc:
        if not _refused(exc):  # Stripe may or may not have made it: ask again
            _request_note(request, exc)
            raise DomainError(
                "Stripe could not be reached or did not answer; the refund request "
                "is kept and will be sent again automatically (it cannot be made "
                "twice)."
            ) from exc
        _request_refuse(request, exc)
        raise DomainError(
            f"Stripe refused the refund: {exc.user_message or exc}"
        ) from exc
    with transaction.atomic(durable=True):
        created = ts(answer.get("created")) or timezone.now()
        refund = refund_record(
            obj=dict(
                answer,
                metadata=dict(
                    answer.get("metadata") or {},
                    refund_request=request.idempotency_key,
                ),
            ),
            seen_at=created,
            created=created,
        )
    if refund is None:  # the payment vanished: cannot happen while it is PROTECTed
        raise DomainError("The refund was made but its payment is not recorded.")
    return refund


def _refused(exc: stripe.StripeError) -> bool:
    """Stripe said no (a 4xx answer other than a rate limit): asking again with
    the same key gives the same no. A connection failure, a rate limit or a
    server error leaves the outcome unknown, so the request is asked again."""
    if isinstance(exc, stripe.RateLimitError):
        return False
    status = getattr(exc, "http_status", None)
    if isinstance(status, int):
        return 400 <= status < 500
    # Raised before or without an HTTP answer: refusals by their kind.
    return isinstance(
        exc,
        stripe.InvalidRequestError
        | stripe.CardError
        | stripe.AuthenticationError
        | stripe.PermissionError
        | stripe.IdempotencyError,
    )


def _refunded_before(payment: Payment) -> int:
    return (
        payment.refunds.filter(status=Refund.Status.SUCCEEDED).aggregate(
            s=Sum("amount_pennies")
        )["s"]
        or 0
    )


def _request_note(request: RefundRequest, exc: Exception) -> None:
    RefundRequest.objects.filter(pk=request.pk).update(
        last_error=f"{type(exc).__name__}: {exc}"[:2000]
    )


@transaction.atomic(durable=True)
def _request_refuse(request: RefundRequest, exc: stripe.StripeError) -> None:
    message = str(exc.user_message or exc)[:2000]
    RefundRequest.objects.filter(pk=request.pk).update(
        status=RefundRequest.Status.REFUSED, last_error=message
    )
    audit_record(
        event_type="refund.refused",
        actor_label="stripe",
        target=request.order,
        metadata={"idempotency_key": request.idempotency_key, "error": message},
    )


def refund_requests_resend(*, now: dt.datetime | None = None) -> dict[str, int]:
    """The sweep: ask Stripe again (same key: one refund) for requests it has not
    answered for RESEND_AFTER, under RESEND_MAX_ATTEMPTS; returns how many were
    recorded, refused or left for later."""
    now = now or timezone.now()
    due = RefundRequest.objects.filter(
        status=RefundRequest.Status.REQUESTED,
        updated_at__lte=now - RESEND_AFTER,
        attempts__lt=RESEND_MAX_ATTEMPTS,
    ).order_by("pk")
    outcome = {"recorded": 0, "refused": 0, "later": 0}
    for request in due.select_related("payment", "order"):
        try:
            refund_request_send(request=request)
        except DomainError:
            request.refresh_from_db(fields=["status"])
            refused = request.status == RefundRequest.Status.REFUSED
            outcome["refused" if refused else "later"] += 1
        else:
            outcome["recorded"] += 1
    return outcome
