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
    cart_fit_to_stock,
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
    summary, capped = cart_fit_to_stock(cart=cart_for(request))
    return render(request, "orders/cart.html", {"cart": summary, "capped": capped})


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


# The address typed at the last attempt, offered again until an order is placed.
DRAFT_ADDRESS_KEY = "checkout_address"


def checkout(request):
    """The delivery address and a last look at the order. On arrival the cart is
    fitted to the stock and the page says what changed, above the address form; a
    placing refused for stock or price shows the form again with what was typed."""
    cart = cart_for(request)
    if request.method == "POST":
        form = CheckoutForm(request.POST, customer=request.user)
        summary, notices = cart_summary(cart.entries()), []
        if summary.lines and form.is_valid():
            request.session[DRAFT_ADDRESS_KEY] = form.address_choice()
            try:
                order = _place(request, cart, form.cleaned_data)
            except CartChanged:
                summary, capped = cart_fit_to_stock(cart=cart)
                # What is left to say once the stock is fitted: changed prices.
                notices = [c.message() for c in capped] + summary.problems()
                cart_accept_current_prices(cart=cart, prices=summary.current_prices)
            except DomainError as exc:  # StockUnavailable among them
                summary, capped = cart_fit_to_stock(cart=cart)
                notices = [c.message() for c in capped] or [str(exc)]
            else:
                return redirect(order.get_absolute_url())
    else:
        summary, capped = cart_fit_to_stock(cart=cart)
        notices = [c.message() for c in capped]
        form = CheckoutForm(initial=_checkout_initial(request), customer=request.user)
    if not summary.lines:
        for notice in notices:
            messages.warning(request, notice)
        messages.info(request, "Your cart is empty.")
        return redirect("orders:cart")
    if notices and request.method == "POST":
        notices.append("Check your order, then place it again.")
    return render(
        request,
        "orders/checkout.html",
        {"form": form, "cart": summary, "notices": notices},
    )


def _checkout_initial(request) -> dict:
    token = request.session.setdefault("checkout_token", new_checkout_token())
    initial = {"checkout_token": token, "name": request.user.full_name}
    draft = request.session.get(DRAFT_ADDRESS_KEY)
    if draft:
        initial.update(draft)
    else:
        latest = request.user.saved_addresses.first()
        if latest is not None:
            initial["saved_address"] = latest.pk
    return initial


def _place(request, cart, data):
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
        save_address=data["save_address"] or data.get("saved_address") is not None,
    )
    request.session["checkout_token"] = new_checkout_token()
    request.session.pop(DRAFT_ADDRESS_KEY, None)
    messages.success(request, f"Order {order.number} is placed and awaits payment.")
    return order


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
