"""The cart: in the session for visitors, in the database for signed-in customers.

Each entry keeps the quantity and the unit price the customer saw when adding it,
so checkout can say exactly what changed since.
"""

from dataclasses import dataclass

from django.db import transaction

from catalog.models import Variant
from core.exceptions import DomainError
from orders.models import Cart, CartItem
from orders.selectors import CartSummary, cart_summary

SESSION_KEY = "cart"
MAX_QUANTITY = 20


@dataclass
class CartEntry:
    quantity: int
    seen_price_pennies: int


class SessionCart:
    def __init__(self, session):
        self.session = session

    def entries(self) -> dict[int, CartEntry]:
        raw = self.session.get(SESSION_KEY, {})
        return {int(k): CartEntry(v["q"], v["p"]) for k, v in raw.items()}

    def _save(self, entries):
        self.session[SESSION_KEY] = {
            str(k): {"q": e.quantity, "p": e.seen_price_pennies}
            for k, e in entries.items()
        }

    def put(self, variant_id, entry):
        entries = self.entries()
        entries[variant_id] = entry
        self._save(entries)

    def remove(self, variant_id):
        entries = self.entries()
        entries.pop(variant_id, None)
        self._save(entries)

    def clear(self):
        self.session.pop(SESSION_KEY, None)


class CustomerCart:
    def __init__(self, user):
        self.user = user

    def _cart(self):
        return Cart.objects.get_or_create(customer=self.user)[0]

    def entries(self) -> dict[int, CartEntry]:
        return {
            item.variant_id: CartEntry(item.quantity, item.seen_price_pennies)
            for item in CartItem.objects.filter(cart__customer=self.user)
        }

    def put(self, variant_id, entry):
        CartItem.objects.update_or_create(
            cart=self._cart(),
            variant_id=variant_id,
            defaults={
                "quantity": entry.quantity,
                "seen_price_pennies": entry.seen_price_pennies,
            },
        )

    def remove(self, variant_id):
        CartItem.objects.filter(
            cart__customer=self.user, variant_id=variant_id
        ).delete()

    def clear(self):
        CartItem.objects.filter(cart__customer=self.user).delete()


def cart_for(request):
    if request.user.is_authenticated:
        return CustomerCart(request.user)
    return SessionCart(request.session)


def _sellable_variant(variant_id) -> Variant:
    variant = (
        Variant.objects.select_related("product")
        .filter(pk=variant_id, active=True, product__active=True)
        .first()
    )
    if variant is None:
        raise DomainError("That item is not for sale.")
    if variant.product.is_subscription:
        raise DomainError(
            f"{variant.product.name} is a subscription: subscribe on its page."
        )
    return variant


def cart_add(*, cart, variant_id: int, quantity: int = 1) -> Variant:
    """Add units of a variant (capped at MAX_QUANTITY a line)."""
    if quantity < 1:
        raise DomainError("Choose at least one.")
    variant = _sellable_variant(variant_id)
    current = cart.entries().get(variant.pk)
    total = min((current.quantity if current else 0) + quantity, MAX_QUANTITY)
    cart.put(variant.pk, CartEntry(total, variant.price_pennies))
    return variant


def cart_set_quantity(*, cart, variant_id: int, quantity: int):
    """Set a line's quantity; zero removes it."""
    if quantity <= 0:
        cart.remove(variant_id)
        return
    entry = cart.entries().get(variant_id)
    if entry is None:
        raise DomainError("That item is not in your cart.")
    cart.put(
        variant_id, CartEntry(min(quantity, MAX_QUANTITY), entry.seen_price_pennies)
    )


@dataclass(frozen=True)
class CappedLine:
    """A cart line lowered to the stock available (to nothing, when none is)."""

    name: str
    had: int
    available: int

    def message(self) -> str:
        if self.available <= 0:
            return (
                f"{self.name} is out of stock, so it is no longer in your cart "
                f"(you had {self.had})."
            )
        verb = "is" if self.available == 1 else "are"
        return (
            f"Only {self.available} of {self.name} {verb} available, so your cart "
            f"now holds {self.available} (you had {self.had})."
        )


def cart_fit_to_stock(*, cart) -> tuple[CartSummary, list[CappedLine]]:
    """Lower every line's quantity to what is available now; a line with nothing
    available leaves the cart. Preorder lines take no stock and are kept as they
    are, as are lines no longer for sale (the cart says so). Returns the cart's
    summary after the change and the lines changed, in cart order."""
    summary = cart_summary(cart.entries())
    capped, kept = [], []
    for line in summary.lines:
        if not line.short_by:
            kept.append(line)
            continue
        available = max(line.available, 0)
        capped.append(CappedLine(str(line.variant), line.quantity, available))
        if available:
            cart.put(line.variant.pk, CartEntry(available, line.seen_price_pennies))
            line.quantity = available
            kept.append(line)
        else:
            cart.remove(line.variant.pk)
    summary.lines = kept
    return summary, capped


def cart_accept_current_prices(*, cart, prices: dict[int, int]):
    """Record that the customer has now seen the current prices."""
    for variant_id, entry in cart.entries().items():
        if variant_id in prices and prices[variant_id] != entry.seen_price_pennies:
            cart.put(variant_id, CartEntry(entry.quantity, prices[variant_id]))


@transaction.atomic
def cart_merge_into_customer(*, session, user):
    """On sign-in: the visitor's session cart joins the customer's saved cart."""
    session_cart = SessionCart(session)
    visitor = session_cart.entries()
    if not visitor:
        return
    customer_cart = CustomerCart(user)
    saved = customer_cart.entries()
    for variant_id, entry in visitor.items():
        before = saved.get(variant_id)
        quantity = min(
            entry.quantity + (before.quantity if before else 0), MAX_QUANTITY
        )
        customer_cart.put(variant_id, CartEntry(quantity, entry.seen_price_pennies))
    session_cart.clear()
