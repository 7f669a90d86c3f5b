"""Reads for the storefront and the stock page: one query per list, however long."""

from dataclasses import dataclass

from django.db.models import (
    BooleanField,
    Case,
    F,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from catalog.models import Category, Product, StockReservation, Variant

SORTS = {
    "name": ("name", "id"),
    "price": ("from_price", "id"),
    "-price": ("-from_price", "id"),
    "newest": ("-created_at", "-id"),
}


def _reserved_for_variant(now):
    return Coalesce(
        Subquery(
            StockReservation.objects.holding(now=now)
            .filter(variant=OuterRef("pk"))
            .values("variant")
            .annotate(total=Sum("quantity"))
            .values("total"),
            output_field=IntegerField(),
        ),
        Value(0),
    )


def variants_with_availability(queryset=None, *, now=None) -> QuerySet:
    """Variants annotated with `reserved` and `available` (on hand − reserved)."""
    now = now or timezone.now()
    queryset = queryset if queryset is not None else Variant.objects.all()
    return queryset.annotate(reserved=_reserved_for_variant(now)).annotate(
        available=F("stock_on_hand") - F("reserved")
    )


def _product_sum(field, now):
    variants = Variant.objects.filter(product=OuterRef("pk"), active=True)
    if field == "reserved":
        rows = (
            StockReservation.objects.holding(now=now)
            .filter(variant__product=OuterRef("pk"), variant__active=True)
            .values("variant__product")
        )
        return Coalesce(
            Subquery(
                rows.annotate(t=Sum("quantity")).values("t"),
                output_field=IntegerField(),
            ),
            Value(0),
        )
    return Coalesce(
        Subquery(
            variants.values("product").annotate(t=Sum(field)).values("t"),
            output_field=IntegerField(),
        ),
        Value(0),
    )


def _variant_price(aggregate):
    """The product's active variants' price (override or the product's), by
    `aggregate` (Min, Max)."""
    return Subquery(
        Variant.objects.filter(product=OuterRef("pk"), active=True)
        .annotate(p=Coalesce("price_override_pennies", "product__price_pennies"))
        .values("product")
        .annotate(m=aggregate("p"))
        .values("m")
    )


def products_for_storefront(*, now=None) -> QuerySet:
    """Active products with `from_price` and `to_price` (the cheapest and dearest
    active variant: a card says "from" only when they differ), `on_hand`,
    `reserved` and `available`."""
    now = now or timezone.now()
    return (
        Product.objects.filter(active=True)
        .select_related("category")
        .annotate(
            from_price=Coalesce(_variant_price(Min), F("price_pennies")),
            to_price=Coalesce(_variant_price(Max), F("price_pennies")),
            on_hand=_product_sum("stock_on_hand", now),
            reserved=_product_sum("reserved", now),
        )
        .annotate(available=F("on_hand") - F("reserved"))
    )


def product_list(
    *, search: str = "", category: str = "", sort: str = "name"
) -> QuerySet:
    products = products_for_storefront()
    if search:
        products = products.filter(
            Q(name__icontains=search)
            | Q(description__icontains=search)
            | Q(variants__sku__iexact=search)
        ).distinct()
    if category:
        products = products.filter(category__slug=category)
    return products.order_by(*SORTS.get(sort, SORTS["name"]))


def product_get(*, slug: str) -> Product:
    return products_for_storefront().get(slug=slug)


def category_list() -> QuerySet:
    return Category.objects.filter(products__active=True).distinct().order_by("name")


@dataclass(frozen=True)
class StockLabel:
    text: str
    tone: str  # ok, warn, bad, info


def is_low_stock(*, available: int, threshold: int, is_preorder: bool) -> bool:
    """Low stock, the one rule (the stock page, the storefront's "Only N left",
    the products dashboard): at most `threshold` units available (on hand less
    reservations). A preorder variant is never low: it is sold before stock
    exists. `low_stock_q` is the same rule for a query."""
    return not is_preorder and available <= threshold


def low_stock_q() -> Q:
    """`is_low_stock` on variants annotated with `available` and `threshold`."""
    return Q(available__lte=F("threshold"), product__is_preorder=False)


def stock_label(
    *, available: int, threshold: int, is_preorder: bool, is_subscription: bool = False
) -> StockLabel:
    """The storefront's words for availability."""
    if is_subscription:
        return StockLabel("Subscription", "info")
    if is_preorder:
        return StockLabel("Preorder", "info")
    if available <= 0:
        return StockLabel("Out of stock", "bad")
    if is_low_stock(available=available, threshold=threshold, is_preorder=False):
        return StockLabel(f"Only {available} left", "warn")
    return StockLabel("In stock", "ok")


def with_stock_labels(products):
    """Set `.stock` (a StockLabel) on each product annotated with `available`."""
    for product in products:
        product.stock = stock_label(
            available=product.available,
            threshold=product.low_stock_threshold,
            is_preorder=product.is_preorder,
            is_subscription=product.is_subscription,
        )
    return products


# The stock page's filters: key -> (label, condition on annotated variants).
STOCK_SHOWS = {
    "low": ("Low stock (at or below the threshold)", low_stock_q),
    "out": (
        "Out of stock (nothing available)",
        lambda: Q(available__lte=0, product__is_preorder=False),
    ),
    "preorder": ("Preorder", lambda: Q(product__is_preorder=True)),
}


def stock_overview(
    *, low_only: bool = False, show: str = "", search: str = ""
) -> QuerySet:
    """Every stocked variant with availability and `is_low`, for the ops stock
    page; least available first. Subscription products hold no stock and are left
    out. `show` is a key of STOCK_SHOWS; `search` matches SKU or product name."""
    rows = (
        variants_with_availability(
            Variant.objects.select_related("product").filter(
                product__active=True, product__billing_interval=""
            )
        )
        .annotate(threshold=F("product__low_stock_threshold"))
        .annotate(
            is_low=Case(
                When(low_stock_q(), then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            )
        )
    )
    show = "low" if low_only else show
    if show in STOCK_SHOWS:
        rows = rows.filter(STOCK_SHOWS[show][1]())
    if term := search.strip():
        rows = rows.filter(Q(sku__icontains=term) | Q(product__name__icontains=term))
    return rows.order_by("available", "sku")
