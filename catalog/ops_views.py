"""The ops stock page: levels, low stock, adjustments, history, thresholds."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import F
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from catalog.forms import StockAdjustForm
from catalog.models import Product, StockMovement, Variant
from catalog.ops_forms import StockFilterForm, ThresholdForm
from catalog.selectors import is_low_stock, stock_overview, variants_with_availability
from catalog.services.products import product_threshold_set
from catalog.services.stock import stock_adjust
from core.exceptions import DomainError
from core.forms import valid_fields
from core.redirects import redirect_back


def stock(request):
    query = request.GET.copy()
    if query.get("low") == "1":  # the old link, kept working
        query.setdefault("show", "low")
    form = StockFilterForm(query or None)
    filters = valid_fields(form)
    show = filters.get("show", "")
    rows = stock_overview(show=show, search=filters.get("q", ""))
    page = Paginator(rows, 100).get_page(request.GET.get("page"))
    query.pop("page", None)
    return render(
        request,
        "orders/ops/stock.html",
        {
            "form": form,
            "page": page,
            "show": show,
            "low_only": show == "low",
            "low_count": stock_overview(show="low").count(),
            "adjust_form": StockAdjustForm(),
            "query": query.urlencode(),
        },
    )


def stock_movements(request, variant_id):
    """One variant's stock history: every movement, newest first, with who and why."""
    variant = get_object_or_404(
        variants_with_availability(Variant.objects.select_related("product")).annotate(
            threshold=F("product__low_stock_threshold")
        ),
        pk=variant_id,
    )
    movements = StockMovement.objects.filter(variant=variant).select_related("actor")
    page = Paginator(movements, 100).get_page(request.GET.get("page"))
    return render(
        request,
        "orders/ops/stock_movements.html",
        {
            "variant": variant,
            "page": page,
            "is_low": is_low_stock(
                available=variant.available,
                threshold=variant.threshold,
                is_preorder=variant.product.is_preorder,
            ),
            "threshold_form": ThresholdForm(
                initial={"threshold": variant.product.low_stock_threshold}
            ),
        },
    )


@require_POST
def stock_threshold(request, product_id):
    product = get_object_or_404(Product, pk=product_id)
    form = ThresholdForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, f"{product.name}: {error}")
    else:
        product_threshold_set(
            product=product,
            threshold=form.cleaned_data["threshold"],
            actor=request.user,
        )
        messages.success(
            request,
            f"{product.name}: low stock now means {product.low_stock_threshold} "
            f"or fewer available.",
        )
    return redirect_back(request, "ops:stock")


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
