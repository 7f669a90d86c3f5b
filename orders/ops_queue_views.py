"""The ops console's order queue and its bulk actions."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import render
from django.views.decorators.http import require_POST

from core.forms import bad_input, valid_fields
from core.redirects import redirect_back
from orders.forms import OpsQueueFilterForm
from orders.models import Order
from orders.selectors import ops_backlog, ops_order_queue, ops_status_counts
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
