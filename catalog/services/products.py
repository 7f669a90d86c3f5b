"""Catalogue writes: products and their variants, opening stock through the ledger."""

from dataclasses import dataclass, field

from django.db import transaction
from django.utils.text import slugify

from audit.services import audit_record
from catalog.models import Category, Product, StockMovement, Variant
from catalog.services.stock import stock_receive
from core.exceptions import DomainError


@dataclass
class VariantSpec:
    sku: str
    option_values: dict = field(default_factory=dict)
    stock: int = 0
    price_override_pennies: int | None = None


def category_get_or_create(*, name: str) -> Category:
    return Category.objects.get_or_create(slug=slugify(name), defaults={"name": name})[
        0
    ]


@transaction.atomic
def product_create(
    *,
    name: str,
    category: Category,
    price_pennies: int,
    variants: list[VariantSpec],
    description: str = "",
    is_preorder: bool = False,
    low_stock_threshold: int = 5,
    billing_interval: str = Product.BillingInterval.ONE_OFF,
    actor=None,
) -> Product:
    """Create a product with its variants; opening stock is received through the
    movement ledger. Writes an audit row.

    A product with a `billing_interval` is a subscription product: it holds no stock.
    """
    if price_pennies < 0:
        raise ValueError("price must not be negative")
    if billing_interval and any(spec.stock for spec in variants):
        raise ValueError("a subscription product holds no stock")
    product = Product.objects.create(
        name=name,
        slug=slugify(name),
        description=description,
        category=category,
        price_pennies=price_pennies,
        is_preorder=is_preorder,
        low_stock_threshold=low_stock_threshold,
        billing_interval=billing_interval,
    )
    for spec in variants:
        variant = Variant.objects.create(
            product=product,
            sku=spec.sku,
            option_values=spec.option_values,
            price_override_pennies=spec.price_override_pennies,
        )
        if spec.stock:
            stock_receive(
                variant=variant,
                quantity=spec.stock,
                reason=StockMovement.Reason.IMPORT,
                note="opening stock",
                actor=actor,
            )
    audit_record(
        event_type="catalog.product_created",
        actor=actor,
        target=product,
        metadata={"name": name, "variants": [v.sku for v in variants]},
    )
    return product


THRESHOLD_MAX = 100_000


@transaction.atomic
def product_threshold_set(*, product: Product, threshold: int, actor) -> Product:
    """Set a product's low-stock threshold (all its variants) under its row lock;
    audited with the old and the new value. Setting the same value writes nothing."""
    if not 0 <= threshold <= THRESHOLD_MAX:
        raise DomainError(f"A threshold is a whole number from 0 to {THRESHOLD_MAX}.")
    locked = Product.objects.select_for_update().get(pk=product.pk)
    before = locked.low_stock_threshold
    if before != threshold:
        locked.low_stock_threshold = threshold
        locked.save(update_fields=["low_stock_threshold", "updated_at"])
        audit_record(
            event_type="catalog.threshold_changed",
            actor=actor,
            target=locked,
            metadata={"product": locked.name, "before": before, "after": threshold},
        )
    product.low_stock_threshold = threshold
    return product
