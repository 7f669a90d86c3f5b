"""Starting a payment: a Checkout Session for a pending order."""

import stripe
from django.db import transaction

from audit.models import AuditLog
from audit.services import audit_record
from core.exceptions import DomainError
from orders.models import Order
from payments.gateway import CheckoutSession, get_gateway


@transaction.atomic
def checkout_start(
    *, order: Order, success_url: str, cancel_url: str
) -> CheckoutSession:
    """Open a Checkout Session for a pending order and remember it on the order.

    Each attempt (a retry after a decline) gets a new session; an older session's
    expiry then changes nothing.
    """
    order = Order.objects.select_for_update().get(pk=order.pk)
    if order.status != Order.Status.PENDING:
        raise DomainError(
            f"Order {order.number} is {order.get_status_display().lower()}."
        )
    attempt = AuditLog.objects.filter(
        event_type="payment.checkout_started",
        target_type=order._meta.label_lower,
        target_id=str(order.pk),
    ).count()
    try:
        session = get_gateway().create_checkout_session(
            order=order, success_url=success_url, cancel_url=cancel_url, attempt=attempt
        )
    except stripe.StripeError as exc:
        raise DomainError(
            f"The payment page could not be opened: {exc.user_message or exc}. "
            "Try again in a moment."
        ) from exc
    order.stripe_checkout_session_id = session.id
    order.save(update_fields=["stripe_checkout_session_id", "updated_at"])
    audit_record(
        event_type="payment.checkout_started",
        target=order,
        metadata={"session": session.id},
    )
    return session
