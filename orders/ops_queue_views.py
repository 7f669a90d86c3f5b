"""The ops console's order queue and its bulk actions."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from core.confirm import confirmation_page
from core.forms import bad_input, valid_fields
from core.redirects import redirect_back, safe_next
from orders.models import Order
from orders.ops_forms import OpsQueueFilterForm
from orders.ops_selectors import DEFAULT_SORT, ops_order_queue, ops_status_counts
from orders.selectors import ops_backlog
from orders.service_level import service_level_days
from orders.services.lifecycle import orders_bulk_fulfil

PAGE_SIZE = 50


def queue(request):
    form = OpsQueueFilterForm(request.GET or None)
    filters = valid_fields(form)
    orders = ops_order_queue(
        status=filters.get("status", ""),
        search=filters.get("q", ""),
        date_from=filters.get("date_from"),
        date_to=filters.get("date_to"),
        show=filters.get("show", ""),
        sort=filters.get("sort") or DEFAULT_SORT,
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
            "service_level_days": service_level_days(),
        },
        status=400 if bad_input(form) else 200,
    )


@require_POST
def bulk_fulfil(request):
    numbers = request.POST.getlist("orders")
    if not numbers:
        messages.info(request, "Select the orders to fulfil first.")
        return redirect_back(request, "ops:queue")
    orders = list(
        Order.objects.filter(number__in=numbers[:PAGE_SIZE]).order_by("number")
    )
    paid = [o for o in orders if o.status == Order.Status.PAID]
    statements = [
        f"Mark {len(paid)} paid order(s) as fulfilled (shipped, without a carrier "
        f"or tracking reference): {', '.join(o.number for o in paid)}."
        if paid
        else "None of the selected orders is paid: nothing will be fulfilled."
    ]
    if others := [o for o in orders if o.status != Order.Status.PAID]:
        statements.append(
            f"Left as they are (not paid): {', '.join(o.number for o in others)}."
        )
    if len(numbers) > PAGE_SIZE:
        statements.append(f"Only the first {PAGE_SIZE} selected orders are taken.")
    if page := confirmation_page(
        request,
        title=f"Fulfil {len(paid)} order(s)?",
        statements=statements,
        button="Fulfil them",
        back=safe_next(request) or reverse("ops:queue"),
        danger=False,
    ):
        return page
    done, refused = orders_bulk_fulfil(orders=orders, actor=request.user)
    if done:
        messages.success(request, f"Fulfilled {len(done)} order(s).")
    for reason in refused:
        messages.warning(request, reason)
    return redirect_back(request, "ops:queue")
