"""A Checkout Session as both gateways answer, and the metadata ours carry."""

from dataclasses import dataclass

from catalog.models import Variant
from orders.models import Order


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str


def order_metadata(order: Order) -> dict:
    """On a payment session, its PaymentIntent and its charge: which order it pays."""
    return {"order_id": str(order.pk), "order_number": order.number}


def subscription_metadata(customer, variant: Variant) -> dict:
    """On the session and the subscription: whose it is and what they subscribed to."""
    return {"user_id": str(customer.pk), "variant_id": str(variant.pk)}
