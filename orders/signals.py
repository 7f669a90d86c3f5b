"""On sign-in the visitor's session cart joins the customer's saved cart.

A signal because sign-in is Django's own view; the work is the cart service's.
"""

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from orders.services.cart import cart_merge_into_customer


@receiver(user_logged_in)
def _merge_cart_on_login(sender, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        cart_merge_into_customer(session=request.session, user=user)
