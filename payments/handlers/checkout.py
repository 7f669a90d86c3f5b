from orders.models import Order
from orders.services.lifecycle import By, order_transition
from payments.stripe_fields import order_for, payment_intent_id


def _order(session) -> Order | None:
    return (
        order_for(session)
        or Order.objects.filter(stripe_checkout_session_id=session["id"]).first()
    )


def completed(payload: dict):
    """Links the session's PaymentIntent to the order; the money itself is recorded
    from payment_intent.succeeded (or the invoice, for subscriptions)."""
    session = payload["data"]["object"]
    if session.get("mode") not in (None, "payment"):
        return None
    order = _order(session)
    intent = payment_intent_id(session)
    if order is None or not intent:
        return None
    Order.objects.filter(pk=order.pk, stripe_payment_intent="").update(
        stripe_payment_intent=intent
    )
    return None


def expired(payload: dict):
    """An abandoned checkout: the pending order is canceled and its stock released.
    Only the order's current session counts (a retry made a newer one)."""
    session = payload["data"]["object"]
    order = Order.objects.filter(stripe_checkout_session_id=session["id"]).first()
    if order is not None and order.status == Order.Status.PENDING:
        order_transition(
            order=order, to=Order.Status.CANCELED, by=By.SYSTEM, note="checkout expired"
        )
