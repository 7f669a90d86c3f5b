from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from catalog.models import Product
from catalog.selectors import with_stock_labels
from core.exceptions import DomainError
from core.redirects import redirect_back
from orders.services.cart import cart_for
from wishlist.forms import MoveToCartForm
from wishlist.selectors import wishlist_products, with_variant_options
from wishlist.services import (
    VariantChoiceNeeded,
    wishlist_add,
    wishlist_move_to_cart,
    wishlist_remove,
)


def wishlist_list(request):
    products = with_stock_labels(list(wishlist_products(customer=request.user)))
    with_variant_options(products)
    return render(request, "wishlist/list.html", {"products": products})


@require_POST
def add(request, product_id):
    product = get_object_or_404(Product, pk=product_id, active=True)
    _item, created = wishlist_add(customer=request.user, product=product)
    if created:
        messages.success(request, f"Saved {product.name} to your wishlist.")
    return redirect_back(request, product.get_absolute_url())


@require_POST
def remove(request, product_id):
    wishlist_remove(customer=request.user, product_id=product_id)
    messages.success(request, "Removed from your wishlist.")
    return redirect_back(request, "wishlist:list")


@require_POST
def move_to_cart(request, product_id):
    form = MoveToCartForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose one of the options.")
        return redirect("wishlist:list")
    try:
        variant = wishlist_move_to_cart(
            customer=request.user,
            cart=cart_for(request),
            product_id=product_id,
            variant_id=form.cleaned_data["variant"],
        )
    except VariantChoiceNeeded as exc:
        messages.info(request, str(exc))
        return redirect(exc.product.get_absolute_url())
    except DomainError as exc:
        messages.error(request, str(exc))
        return redirect("wishlist:list")
    messages.success(request, f"Moved {variant} to your cart.")
    return redirect("orders:cart")
