"""The customer's messages about an order (core.mail): confirmation when it is
paid, dispatch notice when it ships, refund notice when a refund succeeds.

Called inside the transaction that makes the change; the message goes out after
it commits, once per order (once per refund id for refunds).
"""

from core.mail import message_send
from orders.models import Order
from orders.shipping import carrier_name, tracking_url

ON_STATUS = {
    Order.Status.PAID: "order_confirmation",
    Order.Status.FULFILLED: "order_dispatched",
}


def order_status_message_send(*, order: Order) -> None:
    """The message for the status the order just entered, if it has one: a
    confirmation when paid (never a second one when a refund un-happens), a
    dispatch notice with the carrier and tracking link when fulfilled."""
    kind = ON_STATUS.get(order.status)
    if kind is None:
        return
    context = {"order": order}
    if kind == "order_dispatched":
        context |= {
            "carrier": carrier_name(order.carrier) if order.carrier else "",
            "tracking_url": tracking_url(
                carrier=order.carrier, reference=order.tracking_reference
            ),
        }
    message_send(kind=kind, to=order.email, context=context, target=order)


def order_refund_message_send(*, order: Order, refund) -> None:
    """A succeeded refund (a payments.Refund) told to the customer, once per
    Stripe refund id: its amount and the order's refunded total."""
    message_send(
        kind="refund_issued",
        to=order.email,
        context={"order": order, "refund": refund},
        target=order,
        dedupe_key=refund.stripe_refund_id,
    )
