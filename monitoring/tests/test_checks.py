"""Each check: make the bad condition, see the issue open, fix it, see it resolve."""

import datetime as dt
import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import F
from django.utils import timezone

from analyticsapp.models import DailySnapshot
from analyticsapp.services.snapshots import snapshots_build
from audit.models import AuditLog
from catalog.models import StockMovement, StockReservation, Variant
from catalog.services.stock import reservations_expire
from catalog.tests.factories import VariantFactory
from core.timeutils import today
from monitoring.models import DataQualityIssue
from monitoring.services import checks_run, issue_set_status
from orders.models import Order
from orders.tests.factories import place_order
from payments.models import Dispute, Payment, Refund, StripeEvent
from payments.tests.events import (
    dispute_event,
    envelope,
    intent_succeeded,
    post,
    refund_event,
)

pytestmark = pytest.mark.django_db


def _open(name):
    checks_run(only=[name])
    return list(
        DataQualityIssue.objects.filter(
            check_name=name, status__in=["open", "acknowledged"]
        )
    )


def _resolved(name):
    checks_run(only=[name])
    return not DataQualityIssue.objects.filter(
        check_name=name, status__in=["open", "acknowledged"]
    ).exists()


@pytest.fixture
def paid(client, customer):
    order = place_order(customer=customer, variants={VariantFactory(stock=10): 2})
    post(client, intent_succeeded(order))
    order.refresh_from_db()
    return order


def test_order_paid_without_payment(paid):
    Payment.objects.filter(order=paid).update(applied=False, problem="oversell")
    [issue] = _open("order_paid_without_payment")
    assert paid.number in issue.message and issue.object_id == str(paid.pk)
    Payment.objects.filter(order=paid).update(applied=True, problem="")
    assert _resolved("order_paid_without_payment")


def test_payment_not_applied_until_refunded(client, customer):
    order = place_order(customer=customer, variants={VariantFactory(stock=5): 1})
    post(client, intent_succeeded(order, amount=1))  # amount mismatch
    [issue] = _open("payment_not_applied")
    assert "amount_mismatch" in issue.message
    post(client, refund_event("re_back", 1))
    assert _resolved("payment_not_applied")


def test_order_refund_fields_that_disagree_with_the_ledger(paid):
    Order.objects.filter(pk=paid.pk).update(
        refunded_pennies=999, refund_status="partial"
    )
    [issue] = _open("order_refunds_mismatch")
    assert issue.evidence == {
        "order": paid.number,
        "currency": "GBP",
        "order_refunded": 999,
        "ledger_refunded": 0,
    }
    Order.objects.filter(pk=paid.pk).update(refunded_pennies=0, refund_status="none")
    assert _resolved("order_refunds_mismatch")


def test_refunds_exceeding_their_payment(client, paid):
    post(client, refund_event("re_1", 1000))
    Refund.objects.filter(stripe_refund_id="re_1").update(amount_pennies=10**6)
    assert len(_open("refunds_exceed_payment")) == 1
    Refund.objects.filter(stripe_refund_id="re_1").update(amount_pennies=1000)
    assert _resolved("refunds_exceed_payment")


def test_stock_that_differs_from_its_movements():
    variant = VariantFactory(stock=5)
    Variant.objects.filter(pk=variant.pk).update(stock_on_hand=F("stock_on_hand") + 3)
    [issue] = _open("stock_ledger_mismatch")
    assert issue.evidence == {"sku": variant.sku, "on_hand": 8, "movements": 5}
    StockMovement.objects.create(
        variant=variant, delta=3, reason="adjustment", note="fix"
    )
    assert _resolved("stock_ledger_mismatch")


def test_negative_available_stock(customer):
    variant = VariantFactory(stock=2)
    place_order(customer=customer, variants={variant: 2})
    Variant.objects.filter(pk=variant.pk).update(stock_on_hand=1)
    StockMovement.objects.create(
        variant=variant, delta=-1, reason="adjustment", note="x"
    )
    assert len(_open("negative_available_stock")) == 1
    StockReservation.objects.update(status="released")
    assert _resolved("negative_available_stock")


def test_expired_reservations_not_released(customer):
    place_order(customer=customer, variants={VariantFactory(stock=2): 1})
    StockReservation.objects.update(expires_at=timezone.now() - dt.timedelta(hours=1))
    [issue] = _open("expired_reservations_not_released")
    assert issue.evidence["count"] == 1
    reservations_expire()
    assert _resolved("expired_reservations_not_released")


def test_pending_orders_older_than_a_day(customer):
    order = place_order(customer=customer, variants={VariantFactory(stock=2): 1})
    assert _resolved("stale_pending_orders")
    Order.objects.filter(pk=order.pk).update(
        created_at=timezone.now() - dt.timedelta(days=2)
    )
    assert len(_open("stale_pending_orders")) == 1
    from orders.services.lifecycle import By, order_transition

    order_transition(order=order, to="canceled", by=By.SYSTEM, note="stale")
    assert _resolved("stale_pending_orders")


def test_stripe_events_failed_or_pending_too_long(client, customer):
    order = place_order(customer=customer, variants={VariantFactory(stock=2): 1})
    post(client, refund_event("re_x", 100, charge="ch_9", pi="pi_9"))  # pending
    assert _resolved("stripe_events_stuck")  # not yet 15 minutes
    StripeEvent.objects.update(received_at=timezone.now() - dt.timedelta(minutes=20))
    [issue] = _open("stripe_events_stuck")
    assert "waits for ch_9" in issue.message
    post(client, intent_succeeded(order, pi="pi_9", charge="ch_9"))  # wakes it
    assert _resolved("stripe_events_stuck")


def test_event_types_no_handler_knows_and_waiving(client, admin_user):
    post(client, envelope("customer.created", {"id": "cus_1", "object": "customer"}))
    [issue] = _open("unknown_event_types")
    assert issue.evidence == {"type": "customer.created", "count": 1}
    issue_set_status(issue=issue, status="waived", actor=admin_user, note="not used")
    assert _resolved("unknown_event_types")  # waived is not open...
    post(client, envelope("customer.created", {"id": "cus_2", "object": "customer"}))
    assert len(_open("unknown_event_types")) == 1  # ...until its evidence changes
    StripeEvent.objects.filter(type="customer.created").delete()
    assert _resolved("unknown_event_types")


def test_events_in_another_api_version(client):
    event = envelope("customer.created", {"id": "cus_1", "object": "customer"})
    event["api_version"] = "2020-08-27"
    post(client, event)
    [issue] = _open("api_version_mismatch")
    assert issue.evidence["api_version"] == "2020-08-27"
    StripeEvent.objects.update(api_version="2025-03-31.basil")
    assert _resolved("api_version_mismatch")


def test_webhook_processing_lag(client):
    post(client, envelope("customer.created", {"id": "cus_1", "object": "customer"}))
    StripeEvent.objects.update(processed_at=F("received_at") + dt.timedelta(minutes=5))
    assert _open("webhook_processing_lag")[0].evidence["slow"] == 1
    StripeEvent.objects.update(processed_at=F("received_at"))
    assert _resolved("webhook_processing_lag")


def test_snapshot_totals_that_differ_from_the_ledger(client, customer):
    order = place_order(customer=customer, variants={VariantFactory(stock=2): 1})
    yesterday = today() - dt.timedelta(days=1)
    paid_at = int((timezone.now() - dt.timedelta(days=1)).timestamp())
    post(client, intent_succeeded(order, created=paid_at))
    snapshots_build(
        date_from=yesterday - dt.timedelta(days=1),
        date_to=yesterday,
        triggered_by="test",
    )
    assert _resolved("snapshot_ledger_mismatch")
    DailySnapshot.objects.filter(day=yesterday).update(gross_revenue_pennies=1)
    [issue] = _open("snapshot_ledger_mismatch")
    assert issue.fingerprint == f"day:{yesterday}"
    snapshots_build(date_from=yesterday, date_to=yesterday, triggered_by="fix")
    assert _resolved("snapshot_ledger_mismatch")


def test_open_disputes(client, paid):
    post(client, dispute_event("dp_1", 100))
    assert len(_open("open_disputes")) == 1
    Dispute.objects.update(status="won")
    assert _resolved("open_disputes")


def test_running_twice_updates_never_duplicates(paid):
    Payment.objects.filter(order=paid).update(applied=False)
    checks_run()
    checks_run()
    assert (
        DataQualityIssue.objects.filter(check_name="order_paid_without_payment").count()
        == 1
    )
    assert AuditLog.objects.filter(event_type="monitoring.checks_run").count() == 2


def test_an_issue_resolved_by_hand_reopens_if_the_condition_is_still_there(
    paid, admin_user
):
    Payment.objects.filter(order=paid).update(applied=False)
    [issue] = _open("order_paid_without_payment")
    issue_set_status(issue=issue, status="resolved", actor=admin_user, note="looked")
    [again] = _open("order_paid_without_payment")
    assert again.pk == issue.pk and "reopened" in again.note


def test_run_checks_fails_while_issues_are_open_and_names_the_order(paid, capsys):
    call_command("run_checks", "--fail-on-issues")  # clean books: exit 0
    Order.objects.filter(pk=paid.pk).update(
        refunded_pennies=500, refund_status="partial"
    )
    with pytest.raises(CommandError, match="1 integrity issue"):
        call_command("run_checks", "--fail-on-issues")
    assert paid.number in capsys.readouterr().out
    with pytest.raises(CommandError, match="unknown check"):
        call_command("run_checks", "--check", "nope")


def test_the_ui_lets_ops_acknowledge_and_only_admins_resolve(
    client, paid, ops_user, admin_user
):
    from django.urls import reverse

    Payment.objects.filter(order=paid).update(applied=False)
    [issue] = _open("order_paid_without_payment")
    client.force_login(ops_user)
    page = client.get(reverse("monitoring:issues"), {"severity": "critical"})
    assert paid.number in page.content.decode()
    client.post(reverse("monitoring:issue_status", args=[issue.pk, "acknowledged"]))
    client.post(reverse("monitoring:issue_status", args=[issue.pk, "resolved"]))
    client.post(
        reverse("monitoring:issue_status", args=[issue.pk, "waived"]), {"note": "meh"}
    )
    issue.refresh_from_db()
    assert (issue.status, issue.owner) == ("acknowledged", ops_user)
    client.force_login(admin_user)
    no_note = client.post(reverse("monitoring:issue_status", args=[issue.pk, "waived"]))
    assert no_note.status_code == 302
    issue.refresh_from_db()
    assert issue.status == "acknowledged"
    client.post(
        reverse("monitoring:issue_status", args=[issue.pk, "resolved"]),
        {"note": "fixed by hand"},
    )
    issue.refresh_from_db()
    assert (issue.status, issue.resolved_by) == ("resolved", admin_user)
    assert AuditLog.objects.filter(
        event_type="monitoring.issue_resolved", actor=admin_user
    ).exists()


def test_subscriptions_paid_but_not_active(client):
    from subscriptions.models import Subscription

    sub_obj = {
        "id": "sub_x", "object": "subscription", "customer": "cus_x",
        "status": "incomplete", "items": {"object": "list", "data": []},
    }  # fmt: skip
    post(client, envelope("customer.subscription.created", sub_obj))
    invoice = {
        "id": "in_x", "object": "invoice", "customer": "cus_x", "amount_paid": 1500,
        "currency": "gbp", "subscription": "sub_x",
        "status_transitions": {"paid_at": 1780000100},
    }  # fmt: skip
    post(client, envelope("invoice.paid", invoice, created=1780000100))
    [issue] = _open("subscriptions_paid_not_active")
    assert "sub_x is incomplete" in issue.message
    Subscription.objects.filter(stripe_subscription_id="sub_x").update(status="active")
    assert _resolved("subscriptions_paid_not_active")


def test_a_bank_payment_processing_is_not_stale_for_a_week(customer):
    order = place_order(customer=customer, variants={VariantFactory(stock=2): 1})
    now = timezone.now()
    Order.objects.filter(pk=order.pk).update(
        created_at=now - dt.timedelta(days=3),
        payment_processing_since=now - dt.timedelta(days=3),
    )
    assert _resolved("stale_pending_orders")
    Order.objects.filter(pk=order.pk).update(
        payment_processing_since=now - dt.timedelta(days=8)
    )
    assert len(_open("stale_pending_orders")) == 1


def test_refund_requests_unanswered(paid):
    from payments.models import RefundRequest

    request = RefundRequest.objects.create(
        idempotency_key="k-unanswered",
        order=paid,
        payment=Payment.objects.get(order=paid),
        amount_pennies=500,
        currency="GBP",
        attempts=3,
        last_error="APIConnectionError: timed out",
    )
    assert _resolved("refund_requests_unanswered")  # the sweep has time
    RefundRequest.objects.filter(pk=request.pk).update(
        created_at=timezone.now() - dt.timedelta(hours=1)
    )
    [issue] = _open("refund_requests_unanswered")
    assert "after 3 tries (APIConnectionError: timed out)" in issue.message
    assert issue.evidence["amount"] == 500
    RefundRequest.objects.filter(pk=request.pk).update(status="sent")
    assert _resolved("refund_requests_unanswered")


def test_a_waived_issue_offers_only_reopen_and_reopens(client, paid, admin_user):
    from django.urls import reverse

    Payment.objects.filter(order=paid).update(applied=False)
    [issue] = _open("order_paid_without_payment")
    client.force_login(admin_user)
    url = reverse("monitoring:issue_status", args=[issue.pk, "waived"])
    client.post(url, {"note": "known, handled elsewhere"})
    page = client.get(reverse("monitoring:issue_detail", args=[issue.pk])).content
    assert b">Reopen<" in page and b">Resolve<" not in page and b">Waive<" not in page
    client.post(reverse("monitoring:issue_status", args=[issue.pk, "open"]))
    issue.refresh_from_db()
    assert (issue.status, issue.resolved_at) == ("open", None)
    assert AuditLog.objects.filter(
        event_type="monitoring.issue_reopened", actor=admin_user
    ).exists()
    again = client.post(reverse("monitoring:issue_status", args=[issue.pk, "open"]))
    assert again.status_code == 302  # an open issue is not "reopened"
    assert AuditLog.objects.filter(event_type="monitoring.issue_reopened").count() == 1


def test_an_admin_runs_the_checks_now_and_ops_cannot(
    client, paid, admin_user, ops_user
):
    from django.urls import reverse

    Payment.objects.filter(order=paid).update(applied=False)
    client.force_login(ops_user)
    assert client.post(reverse("monitoring:checks_run")).status_code == 403
    page = client.get(reverse("monitoring:issues")).content.decode()
    assert "Run the checks now" not in page
    client.force_login(admin_user)
    done = client.post(reverse("monitoring:checks_run"), follow=True).content.decode()
    assert re.search(r"Checks run: [1-9]\d* issue\(s\) opened, 0 resolved", done), done[
        done.find("<main") :
    ][:600]
    assert AuditLog.objects.filter(
        event_type="monitoring.checks_run", actor=admin_user
    ).exists()
    assert _open("order_paid_without_payment")
