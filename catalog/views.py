from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render

from catalog.forms import ProductFilterForm
from catalog.models import Product
from catalog.selectors import (
    category_list,
    product_get,
    product_list,
    products_for_storefront,
    stock_label,
    variants_with_availability,
    with_stock_labels,
)
from core.forms import valid_fields

PAGE_SIZE = 12


def home(request):
    newest = list(products_for_storefront().order_by("-created_at", "-id")[:8])
    return render(
        request,
        "catalog/home.html",
        {"products": with_stock_labels(newest), "categories": category_list()},
    )


def product_list_view(request):
    form = ProductFilterForm(request.GET or None)
    filters = valid_fields(form)
    products = product_list(
        search=filters.get("q", ""),
        category=filters.get("category", ""),
        sort=filters.get("sort") or "name",
    )
    page = Paginator(products, PAGE_SIZE).get_page(request.GET.get("page"))
    with_stock_labels(page.object_list)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "catalog/product_list.html",
        {
            "form": form,
            "page": page,
            "categories": category_list(),
            "active_category": filters.get("category", ""),
            "query": query.urlencode(),
        },
    )


def product_detail(request, slug):
    try:
        product = product_get(slug=slug)
    except Product.DoesNotExist as exc:
        raise Http404("No such product") from exc
    variants = list(
        variants_with_availability(product.variants.filter(active=True)).order_by("pk")
    )
    for variant in variants:
        variant.stock = stock_label(
            available=variant.available,
            threshold=product.low_stock_threshold,
            is_preorder=product.is_preorder,
            is_subscription=product.is_subscription,
        )
        variant.product = product
    prices = [variant.price_pennies for variant in variants]
    product.to_price = max(prices, default=product.from_price)
    with_stock_labels([product])
    return render(
        request,
        "catalog/product_detail.html",
        {
            "product": product,
            "variants": variants,
        },
    )
