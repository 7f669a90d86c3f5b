"""Payment panels that order pages include (orders cannot import payments)."""

from django import template

from audit.models import AuditLog
from payments.models import Dispute, PaymentException, Refund, RefundRequest
from payments.services.refunds import refundable_pennies
from payments.views import new_refund_form

register = template.Library()


def _ledger(order):
    payments = list(order.payments.order_by("paid_at"))
    refunds = list(
        Refund.objects.filter(payment__order=order).order_by("stripe_created", "id")
    )
    return payments, refunds


def last_failed_attempt(order) -> dict | None:
    """What the customer's last payment attempt said when it failed, unless a
    newer attempt started since (the audit trail is the order's timeline)."""
    rows = AuditLog.objects.filter(
        target_type=order._meta.label_lower,
        target_id=str(order.pk),
        event_type__in=["payment.failed", "payment.checkout_started"],
    ).order_by("-id")
    latest = rows.values("event_type", "metadata").first()
    if latest is None or latest["event_type"] != "payment.failed":
        return None
    return latest["metadata"]


@register.inclusion_tag("payments/_customer_panel.html", takes_context=True)
def order_payment_panel(context, order):
    payments, refunds = _ledger(order)
    return {
        "order": order,
        "failed_attempt": last_failed_attempt(order)
        if order.status == "pending"
        else None,
        "payments": [p for p in payments if p.applied],
        "refunds": refunds,
        "request": context.get("request"),
        "csrf_token": context.get("csrf_token"),
    }


@register.inclusion_tag("payments/ops/_order_panel.html", takes_context=True)
def ops_payment_panel(context, order):
    payments, refunds = _ledger(order)
    refundable = refundable_pennies(order)
    return {
        "order": order,
        "payments": payments,
        "refunds": refunds,
        "disputes": Dispute.objects.filter(payment__order=order),
        "refund_requests": RefundRequest.objects.filter(
            order=order, status=RefundRequest.Status.REQUESTED
        ),
        "cases": PaymentException.objects.filter(order=order, resolved_at__isnull=True),
        "refundable": refundable,
        "refund_form": new_refund_form(order) if refundable else None,
        "request": context.get("request"),
        "csrf_token": context.get("csrf_token"),
    }
