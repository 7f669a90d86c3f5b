"""Wishlist writes. Adds are never deleted: removal stamps the row."""

from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog.models import Product
from catalog.selectors import variants_with_availability
from core.exceptions import DomainError
from orders.services.cart import cart_add
from wishlist.models import WishlistItem


def wishlist_add(*, customer, product: Product) -> tuple[WishlistItem, bool]:
    """Add a product; returns (item, created). Adding it again changes nothing."""
    open_item = WishlistItem.objects.filter(
        customer=customer, product=product, removed_at__isnull=True
    ).first()
    if open_item:
        return open_item, False
    try:
        with transaction.atomic():
            return WishlistItem.objects.create(customer=customer, product=product), True
    except IntegrityError:  # a concurrent double click added it first
        return WishlistItem.objects.get(
            customer=customer, product=product, removed_at__isnull=True
        ), False


def wishlist_remove(
    *, customer, product_id: int, removal=WishlistItem.Removal.REMOVED
) -> bool:
    return bool(
        WishlistItem.objects.filter(
            customer=customer, product_id=product_id, removed_at__isnull=True
        ).update(removed_at=timezone.now(), removal=removal)
    )


@transaction.atomic
def wishlist_move_to_cart(*, customer, cart, product_id: int, variant_id=None):
    """Put the product (the chosen, or first in-stock, variant) in the cart and
    close the wishlist item as moved."""
    variants = variants_with_availability().filter(
        product_id=product_id, active=True, product__active=True
    )
    if variant_id:
        variants = variants.filter(pk=variant_id)
    variant = variants.order_by("-available", "pk").first()
    if variant is None:
        raise DomainError("That product is not for sale any more.")
    cart_add(cart=cart, variant_id=variant.pk, quantity=1)
    wishlist_remove(
        customer=customer,
        product_id=product_id,
        removal=WishlistItem.Removal.MOVED_TO_CART,
    )
    return variant
