"""The ops console: order queue, order detail with timeline, fulfil, cancel, stock."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from audit.selectors import audit_for_target
from catalog.models import Variant
from catalog.selectors import stock_overview
from catalog.services.stock import stock_adjust
from core.exceptions import DomainError
from core.forms import bad_input, valid_fields
from core.redirects import redirect_back
from orders.forms import CancelForm, FulfilForm, OpsQueueFilterForm, StockAdjustForm
from orders.models import Order
from orders.selectors import (
    ops_backlog,
    ops_order_get,
    ops_order_queue,
    ops_status_counts,
)
from orders.services.lifecycle import (
    By,
    allowed_targets,
    order_cancel,
    order_fulfil,
    orders_bulk_fulfil,
)

PAGE_SIZE = 50


def queue(request):
    form = OpsQueueFilterForm(request.GET or None)
    filters = valid_fields(form)
    orders = ops_order_queue(
        status=filters.get("status", ""),
        search=filters.get("q", ""),
        date_from=filters.get("date_from"),
        date_to=filters.get("date_to"),
    )
    page = Paginator(orders, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "orders/ops/queue.html",
        {
            "form": form,
            "page": page,
            "counts": ops_status_counts(),
            "backlog": ops_backlog(),
            "query": query.urlencode(),
            "statuses": Order.Status,
        },
        status=400 if bad_input(form) else 200,
    )


def order_detail(request, number):
    order = ops_order_get(number=number)
    targets = allowed_targets(order, By.OPS)
    timeline = sorted(
        [
            {"at": c.created_at, "kind": "status", "change": c}
            for c in order.status_changes.all()
        ]
        + [
            {"at": a.created_at, "kind": "audit", "entry": a}
            for a in audit_for_target(target=order)
        ],
        key=lambda item: item["at"],
    )
    return render(
        request,
        "orders/ops/order_detail.html",
        {
            "order": order,
            "timeline": timeline,
            "can_fulfil": "fulfilled" in targets,
            "can_cancel": "canceled" in targets,
            "fulfil_form": FulfilForm(),
            "cancel_form": CancelForm(),
        },
    )


@require_POST
def fulfil(request, number):
    order = get_object_or_404(Order, number=number)
    form = FulfilForm(request.POST)
    if not form.is_valid():
        for error in form.errors.get("tracking_reference", []):
            messages.error(request, f"Tracking reference: {error}")
        return redirect("ops:order_detail", number=order.number)
    order_fulfil(
        order=order,
        actor=request.user,
        tracking_reference=form.cleaned_data["tracking_reference"],
    )
    messages.success(request, f"Order {order.number} is fulfilled.")
    return redirect("ops:order_detail", number=order.number)


@require_POST
def cancel(request, number):
    order = get_object_or_404(Order, number=number)
    form = CancelForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    order_cancel(order=order, actor=request.user, by=By.OPS, note=note)
    messages.success(request, f"Order {order.number} is canceled.")
    return redirect("ops:order_detail", number=order.number)


@require_POST
def bulk_fulfil(request):
    numbers = request.POST.getlist("orders")
    orders = list(Order.objects.filter(number__in=numbers[:PAGE_SIZE]))
    done, refused = orders_bulk_fulfil(orders=orders, actor=request.user)
    if done:
        messages.success(request, f"Fulfilled {len(done)} order(s).")
    for reason in refused:
        messages.warning(request, reason)
    if not numbers:
        messages.info(request, "Select the orders to fulfil first.")
    return redirect_back(request, "ops:queue")


def stock(request):
    low_only = request.GET.get("low") == "1"
    rows = stock_overview(low_only=low_only)
    page = Paginator(rows, 100).get_page(request.GET.get("page"))
    low = stock_overview(low_only=True)
    return render(
        request,
        "orders/ops/stock.html",
        {
            "page": page,
            "low_only": low_only,
            "low_count": low.count(),
            "adjust_form": StockAdjustForm(),
        },
    )


@require_POST
def stock_adjust_view(request, variant_id):
    variant = get_object_or_404(Variant, pk=variant_id)
    form = StockAdjustForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, f"{variant.sku}: {error}")
        return redirect("ops:stock")
    try:
        stock_adjust(
            variant=variant,
            delta=form.cleaned_data["delta"],
            note=form.cleaned_data["note"],
            actor=request.user,
        )
    except DomainError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, f"{variant.sku}: stock is now {variant.stock_on_hand}."
        )
    return redirect("ops:stock")
