"""The ops console's order page: detail with timeline, fulfil, cancel, notes, slips."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from core.confirm import confirmation_page
from core.exceptions import DomainError
from orders.models import Order
from orders.ops_forms import CancelForm, FulfilForm, NoteForm
from orders.selectors import ops_order_get
from orders.services.lifecycle import By, allowed_targets, order_cancel, order_fulfil
from orders.services.notes import order_note_add
from orders.shipping import carrier_name, tracking_url
from orders.timeline import order_timeline

SLIPS_MAX = 50


def _form_errors(request, form):
    for name, errors in form.errors.items():
        label = form.fields[name].label if name in form.fields else name
        for error in errors:
            messages.error(request, f"{label}: {error}")


def order_detail(request, number):
    order = ops_order_get(number=number)
    targets = allowed_targets(order, By.OPS)
    return render(
        request,
        "orders/ops/order_detail.html",
        {
            "order": order,
            "timeline": order_timeline(order),
            "can_fulfil": "fulfilled" in targets,
            "can_cancel": "canceled" in targets,
            "fulfil_form": FulfilForm(),
            "cancel_form": CancelForm(),
            "note_form": NoteForm(),
            "carrier": carrier_name(order.carrier),
            "tracking_url": tracking_url(
                carrier=order.carrier, reference=order.tracking_reference
            ),
        },
    )


@require_POST
def fulfil(request, number):
    order = get_object_or_404(Order, number=number)
    form = FulfilForm(request.POST)
    if not form.is_valid():
        _form_errors(request, form)
        return redirect("ops:order_detail", number=order.number)
    order_fulfil(
        order=order,
        actor=request.user,
        tracking_reference=form.cleaned_data["tracking_reference"],
        carrier=form.cleaned_data["carrier"],
    )
    messages.success(request, f"Order {order.number} is fulfilled.")
    return redirect("ops:order_detail", number=order.number)


@require_POST
def cancel(request, number):
    order = get_object_or_404(Order, number=number)
    form = CancelForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    back = reverse("ops:order_detail", args=[order.number])
    if page := confirmation_page(
        request,
        title=f"Cancel order {order.number}?",
        statements=[f"Order {order.number} ({order.email}) becomes canceled."]
        + (
            ["Its stock reservations are released."]
            if order.status == Order.Status.PENDING
            else []
        )
        + ([f"Reason recorded: {note}"] if note else []),
        button="Cancel the order",
        back=back,
    ):
        return page
    order_cancel(order=order, actor=request.user, by=By.OPS, note=note)
    messages.success(request, f"Order {order.number} is canceled.")
    return redirect(back)


@require_POST
def note_add(request, number):
    order = get_object_or_404(Order, number=number)
    form = NoteForm(request.POST)
    if not form.is_valid():
        _form_errors(request, form)
    else:
        try:
            order_note_add(
                order=order, actor=request.user, body=form.cleaned_data["body"]
            )
        except DomainError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, "Note added.")
    return redirect("ops:order_detail", number=order.number)


def packing_slips(request):
    """One printable page per order: ?orders=PL-1&orders=PL-2 (the queue's
    selection) or the single order of the order page."""
    numbers = request.GET.getlist("orders")[:SLIPS_MAX]
    orders = list(
        Order.objects.filter(number__in=numbers)
        .prefetch_related("lines")
        .order_by("created_at", "id")
    )
    if not orders:
        return render(
            request,
            "400.html",
            {"message": "Choose at least one order to print its packing slip."},
            status=400,
        )
    return render(request, "orders/ops/packing_slips.html", {"orders": orders})
