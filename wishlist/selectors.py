from catalog.models import Variant
from catalog.selectors import products_for_storefront, variants_with_availability
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
    """The customer's open wishlist as storefront products (availability, and the
    price range for the card's "from")."""
    return (
        products_for_storefront()
        .filter(
            wishlist_items__customer=customer, wishlist_items__removed_at__isnull=True
        )
        .order_by("-wishlist_items__added_at")
    )


def with_variant_options(products):
    """Set `.options` on each product: its active variants with `available`, in one
    query, for the wishlist's variant choice."""
    by_product = {product.pk: product for product in products}
    for product in products:
        product.options = []
    variants = variants_with_availability(
        Variant.objects.filter(product_id__in=list(by_product), active=True)
    ).order_by("product_id", "pk")
    for variant in variants:
        product = by_product[variant.product_id]
        variant.product = product  # for its label and price, without a query
        variant.in_stock = variant.available > 0 or product.is_preorder
        product.options.append(variant)
    return products
