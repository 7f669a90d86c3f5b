"""Customer pages: cart, checkout, own orders."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from catalog.forms import AddToCartForm
from core.exceptions import DomainError
from core.redirects import redirect_back
from orders.forms import CartLineForm, CheckoutForm
from orders.selectors import (
    cart_summary,
    order_get_for_customer,
    order_list_for_customer,
)
from orders.services.cart import (
    cart_accept_current_prices,
    cart_add,
    cart_for,
    cart_set_quantity,
)
from orders.services.checkout import (
    CartChanged,
    ShippingAddress,
    new_checkout_token,
    order_place,
)
from orders.services.lifecycle import By, order_cancel


def cart_view(request):
    summary = cart_summary(cart_for(request).entries())
    return render(request, "orders/cart.html", {"cart": summary})


@require_POST
def cart_add_view(request):
    form = AddToCartForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose an option and a quantity.")
        return redirect_back(request, "orders:cart")
    try:
        variant = cart_add(
            cart=cart_for(request),
            variant_id=form.cleaned_data["variant"],
            quantity=form.cleaned_data["quantity"],
        )
    except DomainError as exc:
        messages.error(request, str(exc))
        return redirect("catalog:product_list")
    messages.success(request, f"Added {variant} to your cart.")
    return redirect("orders:cart")


@require_POST
def cart_update_view(request):
    form = CartLineForm(request.POST)
    if form.is_valid():
        try:
            cart_set_quantity(
                cart=cart_for(request),
                variant_id=form.cleaned_data["variant"],
                quantity=form.cleaned_data["quantity"],
            )
        except DomainError as exc:
            messages.error(request, str(exc))
    else:
        messages.error(request, "Enter a quantity from 0 to 20.")
    return redirect("orders:cart")


def checkout(request):
    cart = cart_for(request)
    summary = cart_summary(cart.entries())
    if not summary.lines:
        messages.info(request, "Your cart is empty.")
        return redirect("orders:cart")
    if request.method == "POST":
        form = CheckoutForm(request.POST)
        if form.is_valid():
            return _place(request, cart, form.cleaned_data)
    else:
        token = request.session.setdefault("checkout_token", new_checkout_token())
        form = CheckoutForm(
            initial={"checkout_token": token, "name": request.user.full_name}
        )
    return render(request, "orders/checkout.html", {"form": form, "cart": summary})


def _place(request, cart, data):
    try:
        order = order_place(
            customer=request.user,
            entries=cart.entries(),
            address=ShippingAddress(
                name=data["name"],
                line1=data["line1"],
                line2=data["line2"],
                city=data["city"],
                postcode=data["postcode"],
                country=data["country"],
            ),
            checkout_token=data["checkout_token"],
        )
    except CartChanged as exc:
        cart_accept_current_prices(cart=cart, prices=exc.prices)
        for problem in exc.problems:
            messages.warning(request, problem)
        messages.info(request, "Check your cart, then check out again.")
        return redirect("orders:cart")
    except DomainError as exc:  # StockUnavailable among them
        messages.error(request, str(exc))
        return redirect("orders:cart")
    request.session["checkout_token"] = new_checkout_token()
    messages.success(request, f"Order {order.number} is placed and awaits payment.")
    return redirect(order.get_absolute_url())


def order_list(request):
    orders = order_list_for_customer(customer=request.user)
    return render(request, "orders/order_list.html", {"orders": orders})


def order_detail(request, number):
    order = order_get_for_customer(customer=request.user, number=number)
    return render(request, "orders/order_detail.html", {"order": order})


@require_POST
def order_cancel_view(request, number):
    order = order_get_for_customer(customer=request.user, number=number)
    order_cancel(order=order, actor=request.user, by=By.CUSTOMER, note="by customer")
    messages.success(request, f"Order {order.number} is canceled.")
    return redirect(order.get_absolute_url())
