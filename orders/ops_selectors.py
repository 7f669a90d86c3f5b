"""Reads for the ops queue: filters, sorts, the late flag and the counts."""

import datetime as dt

from django.db.models import (
    BooleanField,
    Case,
    Count,
    F,
    Q,
    QuerySet,
    Value,
    When,
)
from django.utils import timezone

from orders.models import Order
from orders.service_level import late_cutoff

# sort key -> (label, ordering). Ties break on id so pages never overlap.
QUEUE_SORTS = {
    "newest": ("Newest first", ("-created_at", "-id")),
    "oldest": ("Oldest first", ("created_at", "id")),
    "waiting": (
        "Waiting longest since payment",
        (F("paid_at").asc(nulls_last=True), "id"),
    ),
    "status": ("Status", ("status", "-created_at", "-id")),
    "total_desc": ("Total, highest first", ("-total_pennies", "-id")),
    "total_asc": ("Total, lowest first", ("total_pennies", "id")),
}
DEFAULT_SORT = "newest"

QUEUE_SHOWS = {
    "late": "Late (past the service level)",
    "refunded": "Refunded (partly or fully)",
    "disputed": "Disputed",
}


def late_q(now: dt.datetime | None = None) -> Q:
    """Paid, not fulfilled, and paid before the service level's cut-off."""
    return Q(status=Order.Status.PAID, paid_at__lt=late_cutoff(now))


def ops_order_queue(
    *,
    status: str = "",
    search: str = "",
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    show: str = "",
    sort: str = DEFAULT_SORT,
    now: dt.datetime | None = None,
) -> QuerySet:
    """The ops queue: filters applied, each row flagged `is_late`, one query for
    the rows however many."""
    now = now or timezone.now()
    late = late_q(now)
    orders = Order.objects.select_related("customer").annotate(
        item_count=Count("lines"),
        is_late=Case(
            When(late, then=Value(True)), default=False, output_field=BooleanField()
        ),
    )
    if status:
        orders = orders.filter(status=status)
    if search:
        term = search.strip()
        orders = orders.filter(Q(email__icontains=term) | Q(number__icontains=term))
    if date_from:
        orders = orders.filter(created_at__date__gte=date_from)
    if date_to:
        orders = orders.filter(created_at__date__lte=date_to)
    if show == "late":
        orders = orders.filter(late)
    elif show == "refunded":
        orders = orders.exclude(refund_status=Order.RefundStatus.NONE)
    elif show == "disputed":
        orders = orders.filter(
            id__in=Order.objects.filter(payments__disputes__isnull=False).values("id")
        )
    _label, ordering = QUEUE_SORTS.get(sort, QUEUE_SORTS[DEFAULT_SORT])
    return orders.order_by(*ordering)


def ops_status_counts(now: dt.datetime | None = None) -> dict[str, int]:
    """Orders by status, and `late`: paid orders past the service level."""
    rows = Order.objects.values("status").annotate(n=Count("id"))
    counts = dict.fromkeys(Order.Status.values, 0)
    counts.update({r["status"]: r["n"] for r in rows})
    counts["late"] = ops_late_count(now)
    return counts


def ops_late_count(now: dt.datetime | None = None) -> int:
    return Order.objects.filter(late_q(now)).count()
