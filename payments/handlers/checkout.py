from audit.services import audit_record
from catalog.services.stock import stock_release
from orders.models import Order
from orders.services.lifecycle import By, order_payment_intent_set, order_transition
from payments.locks import lock_order
from payments.models import Payment
from payments.services.ledger import STRIPE, payment_processing
from payments.services.ledger.payments import CHECKOUT_EXPIRED
from payments.stripe_fields import event_time, order_for, payment_intent_id


def _order(session) -> Order | None:
    return (
        order_for(session)
        or Order.objects.filter(stripe_checkout_session_id=session["id"]).first()
    )


def completed(payload: dict):
    """checkout.session.completed (and .async_payment_succeeded): links the
    session's PaymentIntent to the order; the money itself is recorded from
    payment_intent.succeeded (or the invoice, for subscriptions)."""
    session = payload["data"]["object"]
    if session.get("mode") not in (None, "payment"):
        return None
    order = _order(session)
    intent = payment_intent_id(session)
    if order is None or not intent:
        return None
    order_payment_intent_set(order=order, payment_intent=intent)
    return None


def async_payment_failed(payload: dict):
    """checkout.session.async_payment_failed: the delayed payment (a bank debit)
    did not go through. A pending order's stock hold is released (paying again
    reserves anew) and the failure is on its timeline for the customer."""
    session = payload["data"]["object"]
    found = _order(session)
    if found is None:
        return None
    order = lock_order(found.pk)
    if (
        order.status != Order.Status.PENDING
        or order.stripe_checkout_session_id != session["id"]
    ):
        return None  # paid meanwhile, or an older attempt: the current one stands
    released = stock_release(holder=order.holder)
    payment_processing(
        order=order,
        payment_intent=payment_intent_id(session),
        at=event_time(payload),
        ended=True,
    )
    audit_record(
        event_type="payment.failed",
        actor_label=STRIPE,
        target=order,
        metadata={
            "checkout_session": session["id"],
            "payment_intent": payment_intent_id(session),
            "code": "async_payment_failed",
            "message": "The bank payment did not go through.",
            "released_holds": released,
        },
    )
    return None


def expired(payload: dict):
    """An abandoned checkout: the pending order is canceled and its stock released.
    Only the order's current session counts (a retry made a newer one), and never
    an order that a payment has reached."""
    session = payload["data"]["object"]
    found = Order.objects.filter(stripe_checkout_session_id=session["id"]).first()
    if found is None:
        return None
    order = lock_order(found.pk)
    if (
        order.status == Order.Status.PENDING
        and order.stripe_checkout_session_id == session["id"]
        and not Payment.objects.filter(order=order).exists()
    ):
        # Dated by Stripe: a payment made before this moment reopens the order
        # (ledger.payments_settle), whichever of the two events arrives first.
        order_transition(
            order=order,
            to=Order.Status.CANCELED,
            by=By.SYSTEM,
            note=CHECKOUT_EXPIRED,
            at=event_time(payload),
            already_locked=True,
        )
    return None
