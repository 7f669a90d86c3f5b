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


class VariantChoiceNeeded(DomainError):
    """The product comes in several variants: the customer must say which."""

    def __init__(self, product: Product):
        self.product = product
        super().__init__(f"Choose which {product.name} you would like.")


@transaction.atomic
def wishlist_move_to_cart(
    *, customer, cart, product_id: int, variant_id: int | None = None
):
    """Put one of the product's variants in the cart and close the wishlist item as
    moved. A product sold in one variant moves as it is; one with several needs
    `variant_id` (VariantChoiceNeeded otherwise), so nothing is chosen for the
    customer. An out-of-stock variant (preorders aside) is refused."""
    variants = list(
        variants_with_availability()
        .select_related("product")
        .filter(product_id=product_id, active=True, product__active=True)
        .order_by("pk")
    )
    if not variants:
        raise DomainError("That product is not for sale any more.")
    if variant_id is None:
        if len(variants) > 1:
            raise VariantChoiceNeeded(variants[0].product)
        variant = variants[0]
    else:
        variant = next((v for v in variants if v.pk == variant_id), None)
        if variant is None:
            raise DomainError("That option is not for sale any more.")
    if variant.available <= 0 and not variant.product.is_preorder:
        raise DomainError(f"{variant} is out of stock.")
    cart_add(cart=cart, variant_id=variant.pk, quantity=1)
    wishlist_remove(
        customer=customer,
        product_id=product_id,
        removal=WishlistItem.Removal.MOVED_TO_CART,
    )
    return variant
