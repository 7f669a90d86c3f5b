"""Reads for the customer's subscriptions page."""

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from subscriptions.models import Subscription


def subscription_list_for_customer(*, customer) -> QuerySet:
    """The customer's subscriptions, live and ended, newest first, with what they
    subscribed to."""
    return Subscription.objects.filter(customer=customer).select_related(
        "variant__product"
    )


def subscription_get_for_customer(*, customer, pk: int) -> Subscription:
    """One of the customer's own subscriptions; 404 for anyone else's."""
    return get_object_or_404(Subscription, pk=pk, customer=customer)
