"""Starting a payment: a Checkout Session for a pending order.

No network call runs inside a transaction (ARCHITECTURE.md, money path 7): the
attempt is recorded and its stock held in one short transaction, Stripe is called
after it commits, and the session is stored in a second one. A crash in between
leaves a numbered attempt without a session, and the next Pay makes a new one.
"""

import contextlib

import stripe
from django.db import transaction
from django.utils import timezone

from audit.models import AuditLog
from audit.services import audit_record
from catalog.services.stock import stock_reserve_again
from core.exceptions import DomainError
from orders.models import Order
from payments.gateway import CheckoutSession, get_gateway
from payments.locks import lock_order

STARTED = "payment.checkout_started"
OPENED = "payment.checkout_opened"


def checkout_start(
    *, order: Order, success_url: str, cancel_url: str
) -> CheckoutSession:
    """Open a Checkout Session for a pending order and remember it on the order.

    Each attempt (a retry after a decline) gets a new session, so an older one's
    expiry changes nothing. Side effects, in order:

    1. One transaction, under the order's row lock: refuses an order that is not
       pending; when the order's stocked lines are no longer all covered by live
       holds, closes its holds and reserves the full quantities again (raising
       StockUnavailable, which names what is gone, and opening no session); writes
       a `payment.checkout_started` audit row numbering the attempt.
    2. After commit, outside any transaction: asks the gateway for a session, keyed
       by the attempt. A Stripe error raises DomainError; the order stays pending
       and its holds expire as usual.
    3. A second transaction: stores the session id on the order if it is still
       pending, and writes a `payment.checkout_opened` audit row. An order paid or
       canceled meanwhile keeps its session and raises DomainError.
    """
    order, attempt, previous = _attempt_begin(order=order)
    gateway = get_gateway()
    if previous:
        # The older page must not take a payment after this one opens (its expiry
        # would otherwise race that payment); Stripe refuses to expire a session
        # already paid, and that payment then pays the order as usual.
        with contextlib.suppress(stripe.StripeError):
            gateway.expire_checkout_session(session_id=previous)
    try:
        session = gateway.create_checkout_session(
            order=order, success_url=success_url, cancel_url=cancel_url, attempt=attempt
        )
    except stripe.StripeError as exc:
        raise DomainError(
            f"The payment page could not be opened: {exc.user_message or exc}. "
            "Try again in a moment."
        ) from exc
    stored = _session_store(order=order, session=session, attempt=attempt)
    current = Order.objects.get(pk=order.pk)
    if not stored and current.status != Order.Status.PENDING:
        raise _not_pending(current)
    return session


def _attempt_begin(*, order: Order) -> tuple[Order, int, str]:
    with transaction.atomic(durable=True):
        order = lock_order(order.pk)
        if order.status != Order.Status.PENDING:
            raise _not_pending(order)
        if order.payment_processing_since is not None:
            raise DomainError(
                f"A bank payment for order {order.number} is processing: it usually "
                "clears within a few days, and you will not be charged twice."
            )
        quantities: dict[int, int] = {}
        # The same lines stock_sell takes at payment: a preorder line holds nothing.
        for variant_id, quantity in order.lines.filter(is_preorder=False).values_list(
            "variant_id", "quantity"
        ):
            quantities[variant_id] = quantities.get(variant_id, 0) + quantity
        # Counting under the order's lock numbers attempts without gaps or repeats;
        # the number keys the gateway's idempotency, so a retry is a new session.
        attempt = AuditLog.objects.filter(
            event_type=STARTED,
            target_type=order._meta.label_lower,
            target_id=str(order.pk),
        ).count()
        holds = stock_reserve_again(holder=order.holder, quantities=quantities)
        # The order forgets its session now, so that session's expiry (which this
        # attempt asks for) cancels nothing.
        previous = order.stripe_checkout_session_id
        if previous:
            Order.objects.filter(pk=order.pk).update(
                stripe_checkout_session_id="", updated_at=timezone.now()
            )
            order.stripe_checkout_session_id = ""
        audit_record(
            event_type=STARTED,
            target=order,
            metadata={
                "attempt": attempt,
                "stock_reserved_again": holds is not None,
                "previous_session": previous,
            },
        )
    return order, attempt, previous


def _session_store(*, order: Order, session: CheckoutSession, attempt: int) -> bool:
    with transaction.atomic(durable=True):
        locked = lock_order(order.pk)
        newest = (
            AuditLog.objects.filter(
                event_type=STARTED,
                target_type=order._meta.label_lower,
                target_id=str(order.pk),
            ).count()
            == attempt + 1
        )
        # Of two clicks at once, the later attempt's session is the order's; the
        # earlier page still pays the order (its metadata names it).
        stored = locked.status == Order.Status.PENDING and newest
        if stored:
            Order.objects.filter(pk=order.pk).update(
                stripe_checkout_session_id=session.id, updated_at=timezone.now()
            )
        audit_record(
            event_type=OPENED,
            target=order,
            metadata={"session": session.id, "attempt": attempt, "stored": stored},
        )
    if stored:
        order.stripe_checkout_session_id = session.id
    return stored


def _not_pending(order: Order) -> DomainError:
    return DomainError(f"Order {order.number} is {order.get_status_display().lower()}.")
