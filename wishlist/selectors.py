from catalog.selectors import products_for_storefront
from wishlist.models import WishlistItem


def wishlisted_product_ids(*, customer) -> set[int]:
    if not customer.is_authenticated:
        return set()
    return set(
        WishlistItem.objects.filter(
            customer=customer, removed_at__isnull=True
        ).values_list("product_id", flat=True)
    )


def wishlist_products(*, customer):
    """The customer's open wishlist as storefront products (with availability)."""
    return (
        products_for_storefront()
        .filter(
            wishlist_items__customer=customer, wishlist_items__removed_at__isnull=True
        )
        .order_by("-wishlist_items__added_at")
    )
