"""The ops console's customer page: one customer's orders, money and subscriptions.

It sits in `subscriptions`, the lowest app that sees every part of a customer's
history (orders, payments, refunds, disputes, subscriptions: ARCHITECTURE.md's
direction of imports).

**Lifetime value** here is the customer's net revenue over their whole history,
with the words of docs/kpi_definitions.md: the payments whose customer they are
(shop orders, subscription invoices, outside payments matched to them), less the
refunds that succeeded on those payments, less dispute losses (money Stripe
withdrew less money it gave back). Fees are left out: a customer does not choose
the shop's card pricing.
"""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db.models import Count, Sum
from django.shortcuts import get_object_or_404

from orders.models import Order
from payments.models import Dispute, Payment, Refund
from subscriptions.models import Subscription

RECENT = 50  # rows per list on the page; the counts cover every row


@dataclass(frozen=True)
class Lifetime:
    paid_pennies: int
    refunded_pennies: int
    dispute_loss_pennies: int
    paid_orders: int
    first_paid_at: object

    @property
    def net_pennies(self) -> int:
        return self.paid_pennies - self.refunded_pennies - self.dispute_loss_pennies


def _sum(queryset, field) -> int:
    return queryset.aggregate(s=Sum(field))["s"] or 0


def customer_lifetime(customer) -> Lifetime:
    payments = Payment.objects.filter(customer=customer)
    refunds = Refund.objects.filter(
        payment__customer=customer, status=Refund.Status.SUCCEEDED
    )
    disputes = Dispute.objects.filter(payment__customer=customer).aggregate(
        withdrawn=Sum("funds_withdrawn_pennies"),
        reinstated=Sum("funds_reinstated_pennies"),
    )
    paid_orders = (
        Order.objects.filter(customer=customer, payments__applied=True)
        .distinct()
        .count()
    )
    first = payments.order_by("paid_at").values_list("paid_at", flat=True).first()
    return Lifetime(
        paid_pennies=_sum(payments, "amount_pennies"),
        refunded_pennies=_sum(refunds, "amount_pennies"),
        dispute_loss_pennies=(disputes["withdrawn"] or 0)
        - (disputes["reinstated"] or 0),
        paid_orders=paid_orders,
        first_paid_at=first,
    )


def customer_overview(pk: int) -> dict:
    """Everything the customer page shows, in a fixed number of queries."""
    customer = get_object_or_404(get_user_model(), pk=pk)
    orders = Order.objects.filter(customer=customer).annotate(item_count=Count("lines"))
    return {
        "customer": customer,
        "lifetime": customer_lifetime(customer),
        "order_count": orders.count(),
        "orders": orders.order_by("-created_at", "-id")[:RECENT],
        "refunds": Refund.objects.filter(payment__customer=customer)
        .select_related("payment__order")
        .order_by("-stripe_created", "-id")[:RECENT],
        "disputes": Dispute.objects.filter(payment__customer=customer)
        .select_related("payment__order")
        .order_by("-stripe_created", "-id")[:RECENT],
        "subscriptions": Subscription.objects.filter(customer=customer)
        .select_related("variant__product")
        .order_by("-started_at", "-id"),
        "outside_payments": Payment.objects.filter(
            customer=customer, order__isnull=True
        ).order_by("-paid_at", "-id")[:RECENT],
    }
