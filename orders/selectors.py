"""Reads for the cart, customer order pages and the ops console."""

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Count, Prefetch, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from catalog.models import Variant
from catalog.selectors import variants_with_availability
from catalog.services.stock import Shortfall
from core.mail import messages_for_target
from core.money import format_money
from orders.models import Order, OrderLine, OrderNote, OrderStatusChange
from orders.pricing import shipping_for


@dataclass
class CartLine:
    variant: Variant
    quantity: int
    seen_price_pennies: int
    available: int

    @property
    def unit_price_pennies(self) -> int:
        return self.variant.price_pennies

    @property
    def line_total_pennies(self) -> int:
        return self.unit_price_pennies * self.quantity

    @property
    def is_preorder(self) -> bool:
        return self.variant.product.is_preorder

    @property
    def sellable(self) -> bool:
        product = self.variant.product
        return self.variant.active and product.active and not product.is_subscription

    @property
    def price_changed(self) -> bool:
        return self.unit_price_pennies != self.seen_price_pennies

    @property
    def short_by(self) -> int:
        if self.is_preorder or not self.sellable:
            return 0
        return max(self.quantity - max(self.available, 0), 0)

    def problems(self) -> list[str]:
        name = str(self.variant)
        if not self.sellable:
            return [f"{name} is no longer for sale."]
        found = []
        if self.short_by:
            found.append(
                Shortfall(
                    self.variant.pk,
                    self.variant.sku,
                    name,
                    self.quantity,
                    max(self.available, 0),
                ).message()
            )
        if self.price_changed:
            found.append(
                f"The price of {name} changed from "
                f"{format_money(self.seen_price_pennies)} to "
                f"{format_money(self.unit_price_pennies)}."
            )
        return found


@dataclass
class CartSummary:
    lines: list[CartLine] = field(default_factory=list)

    @property
    def subtotal_pennies(self) -> int:
        return sum(line.line_total_pennies for line in self.lines)

    @property
    def shipping_pennies(self) -> int:
        return shipping_for(self.subtotal_pennies)

    @property
    def total_pennies(self) -> int:
        return self.subtotal_pennies + self.shipping_pennies

    @property
    def count(self) -> int:
        return sum(line.quantity for line in self.lines)

    def problems(self) -> list[str]:
        return [p for line in self.lines for p in line.problems()]

    @property
    def current_prices(self) -> dict[int, int]:
        return {line.variant.pk: line.unit_price_pennies for line in self.lines}


def cart_summary(entries) -> CartSummary:
    """The cart's lines with current prices and availability, in one query."""
    variants = variants_with_availability(
        Variant.objects.select_related("product").filter(pk__in=list(entries))
    )
    by_id = {v.pk: v for v in variants}
    lines = [
        CartLine(by_id[vid], e.quantity, e.seen_price_pennies, by_id[vid].available)
        for vid, e in entries.items()
        if vid in by_id
    ]
    return CartSummary(lines=lines)


def order_list_for_customer(*, customer) -> QuerySet:
    return (
        Order.objects.filter(customer=customer)
        .annotate(item_count=Count("lines"))
        .order_by("-created_at", "-id")
    )


def order_get_for_customer(*, customer, number: str) -> Order:
    """The customer's own order; another customer's order is a 404, not a 403."""
    return get_object_or_404(
        Order.objects.prefetch_related("lines", "status_changes"),
        customer=customer,
        number=number,
    )


# --- ops console -------------------------------------------------------------------


BACKLOG_BUCKETS = [
    ("under 1 day", dt.timedelta(0), dt.timedelta(days=1)),
    ("1–2 days", dt.timedelta(days=1), dt.timedelta(days=2)),
    ("2–5 days", dt.timedelta(days=2), dt.timedelta(days=5)),
    ("over 5 days", dt.timedelta(days=5), None),
]


def ops_backlog(*, now=None) -> dict:
    """Paid but unfulfilled orders: counts by age since payment, and the oldest."""
    now = now or timezone.now()
    paid = Order.objects.filter(status=Order.Status.PAID)
    aggregates = {}
    for i, (_label, low, high) in enumerate(BACKLOG_BUCKETS):
        condition = Q(paid_at__lte=now - low)
        if high is not None:
            condition &= Q(paid_at__gt=now - high)
        aggregates[f"bucket_{i}"] = Count("id", filter=condition)
    counts = paid.aggregate(**aggregates)
    oldest = paid.order_by("paid_at").values_list("paid_at", flat=True).first()
    return {
        "buckets": [
            (label, counts[f"bucket_{i}"])
            for i, (label, _, _) in enumerate(BACKLOG_BUCKETS)
        ],
        "total": sum(counts.values()),
        "oldest_age": (now - oldest) if oldest else None,
    }


def ops_order_get(*, number: str) -> Order:
    order = get_object_or_404(
        Order.objects.select_related("customer").prefetch_related(
            Prefetch("lines", queryset=OrderLine.objects.order_by("id")),
            Prefetch(
                "status_changes",
                queryset=OrderStatusChange.objects.select_related("actor"),
            ),
            Prefetch("notes", queryset=OrderNote.objects.select_related("author")),
        ),
        number=number,
    )
    # The emails about it (no relation to prefetch by: core.Message names its
    # target by type and id), in one query for the timeline.
    order.sent_messages = list(messages_for_target(order))
    return order
