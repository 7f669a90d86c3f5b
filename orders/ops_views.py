"""The ops console's order page: detail with timeline, fulfil, cancel."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from audit.selectors import audit_for_target
from orders.forms import CancelForm, FulfilForm
from orders.models import Order
from orders.selectors import (
    ops_order_get,
)
from orders.services.lifecycle import (
    By,
    allowed_targets,
    order_cancel,
    order_fulfil,
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
