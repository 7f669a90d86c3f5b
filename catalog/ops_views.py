"""The ops console's stock page: levels, low stock, adjustments."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from catalog.forms import StockAdjustForm
from catalog.models import Variant
from catalog.selectors import stock_overview
from catalog.services.stock import stock_adjust
from core.exceptions import DomainError


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
