from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.formats import date_format
from django.views.decorators.http import require_POST

from core.confirm import confirmation_page
from core.exceptions import DomainError
from subscriptions.billing import subscription_cancel_at_period_end
from subscriptions.checkout import subscription_checkout_start
from subscriptions.forms import SubscribeForm
from subscriptions.selectors import (
    subscription_get_for_customer,
    subscription_list_for_customer,
)


def subscription_list(request):
    subscriptions = subscription_list_for_customer(customer=request.user)
    return render(request, "subscriptions/list.html", {"subscriptions": subscriptions})


@require_POST
def subscribe(request):
    """Off to the gateway's checkout in subscription mode."""
    form = SubscribeForm(request.POST)
    if not form.is_valid():
        messages.error(request, "That is not a subscription you can start.")
        return redirect("catalog:product_list")
    variant = form.cleaned_data["variant"]
    try:
        session = subscription_checkout_start(
            customer=request.user,
            variant=variant,
            success_url=request.build_absolute_uri(
                reverse("subscriptions:list") + "?subscribed=1"
            ),
            cancel_url=request.build_absolute_uri(variant.product.get_absolute_url()),
        )
    except DomainError as exc:
        messages.error(request, str(exc))
        return redirect(variant.product.get_absolute_url())
    return redirect(session.url)


@require_POST
def subscription_cancel(request, pk):
    subscription = subscription_get_for_customer(customer=request.user, pk=pk)
    ends = subscription.current_period_end
    if page := confirmation_page(
        request,
        title=f"Cancel your {subscription.variant.product.name} subscription?",
        statements=[
            "It is not renewed: no further payment is taken.",
            f"It stays active until {date_format(ends, 'j F Y')}."
            if ends
            else "It stays active until the end of the period you paid for.",
        ],
        button="Cancel the subscription",
        back=reverse("subscriptions:list"),
    ):
        return page
    try:
        subscription_cancel_at_period_end(subscription=subscription, actor=request.user)
    except DomainError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, "Cancellation requested: it ends when the paid period does."
        )
    return redirect("subscriptions:list")
