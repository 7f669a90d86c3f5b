"""Orders made through the real checkout and lifecycle services."""

from orders.models import Order
from orders.services.cart import CartEntry
from orders.services.checkout import ShippingAddress, new_checkout_token, order_place
from orders.services.lifecycle import By, order_transition

ADDRESS = ShippingAddress(
    name="Sam Shopper", line1="1 High Street", city="Leeds", postcode="LS1 1AA"
)


def place_order(*, customer, variants: dict, token: str | None = None) -> Order:
    """variants: {variant: quantity}; prices as the catalogue has them now."""
    entries = {
        v.pk: CartEntry(quantity=q, seen_price_pennies=v.price_pennies)
        for v, q in variants.items()
    }
    return order_place(
        customer=customer,
        entries=entries,
        address=ADDRESS,
        checkout_token=token or new_checkout_token(),
    )


def paid_order(*, customer, variants: dict) -> Order:
    order = place_order(customer=customer, variants=variants)
    return order_transition(order=order, to=Order.Status.PAID, by=By.PAYMENTS)
