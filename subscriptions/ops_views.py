"""The ops console's customer page (subscriptions/ops_customer.py)."""

from django.shortcuts import render

from subscriptions.ops_customer import customer_overview


def customer_detail(request, pk):
    return render(request, "subscriptions/ops/customer.html", customer_overview(pk))
