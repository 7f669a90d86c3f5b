"""Checkout: a validated cart becomes a pending order with its stock reserved."""

import secrets
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import SavedAddress
from audit.services import audit_record
from catalog.services.stock import stock_reserve
from core.exceptions import DomainError
from core.money import store_currency
from orders.models import CartItem, Order, OrderLine, OrderStatusChange
from orders.selectors import cart_summary
from orders.services.lifecycle import By

# No 0/O or 1/I: order numbers are read out over the phone.
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


class CartChanged(DomainError):
    """Prices or availability changed since the customer saw the cart."""

    def __init__(self, problems: list[str], prices: dict[int, int]):
        self.problems, self.prices = problems, prices
        super().__init__(" ".join(problems))


@dataclass(frozen=True)
class ShippingAddress:
    name: str
    line1: str
    city: str
    postcode: str
    country: str = "GB"
    line2: str = ""


def new_order_number() -> str:
    return "PL-" + "".join(secrets.choice(_ALPHABET) for _ in range(8))


def new_checkout_token() -> str:
    return secrets.token_urlsafe(24)


@transaction.atomic
def order_place(
    *,
    customer,
    entries: dict,
    address: ShippingAddress,
    checkout_token: str,
    save_address: bool = False,
) -> Order:
    """Turn the cart `entries` into a pending order and reserve its stock.

    Idempotent on `checkout_token`: a double submit returns the first order. Prices
    and availability are checked again; any change raises CartChanged and writes
    nothing. Writes the order, its lines, its first status row, the reservations and
    an audit row, and empties the customer's saved cart of what was ordered; with
    `save_address`, keeps the address among the customer's saved addresses.
    """
    existing = Order.objects.filter(checkout_token=checkout_token).first()
    if existing is not None:
        return _same_customer(existing, customer)
    summary = cart_summary(entries)
    if not summary.lines:
        raise DomainError("Your cart is empty.")
    problems = summary.problems()
    if problems:
        raise CartChanged(problems, summary.current_prices)
    try:
        with transaction.atomic():
            order = Order.objects.create(
                number=new_order_number(),
                customer=customer,
                email=customer.email,
                currency=store_currency(),
                subtotal_pennies=summary.subtotal_pennies,
                shipping_pennies=summary.shipping_pennies,
                total_pennies=summary.total_pennies,
                checkout_token=checkout_token,
                shipping_name=address.name,
                shipping_line1=address.line1,
                shipping_line2=address.line2,
                shipping_city=address.city,
                shipping_postcode=address.postcode,
                shipping_country=address.country,
            )
    except IntegrityError:
        # The same form was submitted twice at once and the other request won.
        return _same_customer(
            Order.objects.get(checkout_token=checkout_token), customer
        )
    OrderLine.objects.bulk_create(
        OrderLine(
            order=order,
            variant=line.variant,
            product_name=line.variant.product.name,
            variant_label=line.variant.label,
            sku=line.variant.sku,
            unit_price_pennies=line.unit_price_pennies,
            quantity=line.quantity,
            line_total_pennies=line.line_total_pennies,
            is_preorder=line.is_preorder,
        )
        for line in summary.lines
    )
    stock_reserve(
        holder=order.holder,
        quantities={line.variant.pk: line.quantity for line in summary.lines},
    )
    OrderStatusChange.objects.create(
        order=order,
        from_status="",
        to_status=order.status,
        actor=customer,
        by=By.CUSTOMER,
    )
    CartItem.objects.filter(
        cart__customer=customer,
        variant_id__in=[line.variant.pk for line in summary.lines],
    ).delete()
    if save_address:
        saved_address_remember(customer=customer, address=address)
    audit_record(
        event_type="order.placed",
        actor=customer,
        target=order,
        metadata={
            "number": order.number,
            "total_pennies": order.total_pennies,
            "lines": len(summary.lines),
        },
    )
    return order


def saved_address_remember(*, customer, address: ShippingAddress) -> SavedAddress:
    """Keep `address` among the customer's saved addresses, most recently used
    first: the same address again is one row, its use time moved on."""
    fields = {
        "name": address.name,
        "line1": address.line1,
        "line2": address.line2,
        "city": address.city,
        "postcode": address.postcode,
        "country": address.country,
    }
    now = timezone.now()
    try:
        with transaction.atomic():
            saved, created = SavedAddress.objects.get_or_create(
                user=customer, **fields, defaults={"last_used_at": now}
            )
    except IntegrityError:  # the same address saved at the same moment
        saved, created = SavedAddress.objects.get(user=customer, **fields), False
    if not created:
        SavedAddress.objects.filter(pk=saved.pk).update(last_used_at=now)
        saved.last_used_at = now
    return saved


def _same_customer(order: Order, customer) -> Order:
    if order.customer_id != customer.pk:
        raise DomainError("This checkout belongs to another account.")
    return order
