"""The cart count in the header, for shoppers."""

from django.db.models import Sum

from accounts.roles import Role
from orders.models import CartItem
from orders.services.cart import SESSION_KEY


def cart_count(request):
    """`cart_count`: the units in the visitor's or customer's cart. A visitor's
    cart is in the session (no query when there is none); a customer's costs one
    query; staff without the customer role are not shopping and cost none."""
    user = getattr(request, "user", None)
    if user is None:
        return {}
    if not user.is_authenticated:
        session = getattr(request, "session", None)
        entries = session.get(SESSION_KEY, {}) if session is not None else {}
        return {"cart_count": sum(entry["q"] for entry in entries.values())}
    if not user.has_role(Role.CUSTOMER, Role.ADMIN):
        return {}
    count = CartItem.objects.filter(cart__customer=user).aggregate(n=Sum("quantity"))
    return {"cart_count": count["n"] or 0}
