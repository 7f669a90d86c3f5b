"""A critical or high issue that opens emails every active admin, once per issue
(again only if it reopens); lower severities and re-runs send nothing."""

import pytest

from catalog.tests.factories import VariantFactory
from core.models import Message
from monitoring.models import DataQualityIssue
from monitoring.services import checks_run
from orders.models import Order
from orders.tests.factories import place_order
from payments.tests.events import intent_succeeded, post

pytestmark = pytest.mark.django_db


@pytest.fixture
def admins(make_user):
    make_user("admin", email="ada@example.com")
    make_user("admin", email="gone@example.com", is_active=False)
    make_user(email="root@example.com", is_superuser=True)
    make_user("ops", email="ops@example.com")
    return ["ada@example.com", "root@example.com"]


@pytest.fixture
def paid(client, customer):
    order = place_order(customer=customer, variants={VariantFactory(stock=5): 1})
    post(client, intent_succeeded(order))
    return order


def _run(django_capture_on_commit_callbacks, *names):
    with django_capture_on_commit_callbacks(execute=True):
        return checks_run(only=list(names))


def test_a_critical_issue_emails_each_active_admin_once(
    smtp, admins, paid, django_capture_on_commit_callbacks
):
    Order.objects.filter(pk=paid.pk).update(refunded_pennies=500)
    _run(django_capture_on_commit_callbacks, "order_refunds_mismatch")
    issue = DataQualityIssue.objects.get(check_name="order_refunds_mismatch")
    assert sorted(m["To"] for m in smtp.received) == admins
    subject = smtp.received[0]["Subject"].strip()
    assert subject.startswith("[PureLaka critical] order_refunds_mismatch: Order ")
    text, html = smtp.parts(smtp.received[0])
    assert f"https://shop.example.com/monitoring/issues/{issue.pk}/" in text
    assert "Triage the issue" in html

    _run(django_capture_on_commit_callbacks, "order_refunds_mismatch")  # still open
    assert len(smtp.received) == 2
    assert (
        Message.objects.filter(target_type="issue", target_id=str(issue.pk)).count()
        == 2
    )


def test_an_issue_that_reopens_alerts_again(
    smtp, admins, paid, django_capture_on_commit_callbacks
):
    Order.objects.filter(pk=paid.pk).update(refunded_pennies=500)
    _run(django_capture_on_commit_callbacks, "order_refunds_mismatch")
    Order.objects.filter(pk=paid.pk).update(refunded_pennies=0)
    _run(django_capture_on_commit_callbacks, "order_refunds_mismatch")  # resolves
    assert len(smtp.received) == 2
    Order.objects.filter(pk=paid.pk).update(refunded_pennies=300)
    _run(django_capture_on_commit_callbacks, "order_refunds_mismatch")
    assert len(smtp.received) == 4
    assert "is open again" in smtp.parts(smtp.received[-1])[0]


def test_a_medium_issue_and_an_attention_item_below_high_send_nothing(
    smtp, admins, customer, django_capture_on_commit_callbacks
):
    order = place_order(customer=customer, variants={VariantFactory(stock=5): 1})
    Order.objects.filter(pk=order.pk).update(created_at="2026-01-01T00:00Z")
    _run(django_capture_on_commit_callbacks, "stale_pending_orders")
    issue = DataQualityIssue.objects.get(check_name="stale_pending_orders")
    assert issue.severity not in ("critical", "high")
    assert smtp.received == []


def test_the_alert_can_be_switched_off(
    smtp, admins, paid, settings, django_capture_on_commit_callbacks
):
    settings.MESSAGES_DISABLED = ["staff_issue_alert"]
    Order.objects.filter(pk=paid.pk).update(refunded_pennies=500)
    _run(django_capture_on_commit_callbacks, "order_refunds_mismatch")
    assert DataQualityIssue.objects.filter(status="open").exists()
    assert smtp.received == []


def test_the_daily_digest_lists_open_urgent_issues_to_admins_once_a_day(
    smtp, admins, paid, django_capture_on_commit_callbacks
):
    from monitoring.services import staff_digest_send
    from monitoring.tasks import staff_digest_task

    Order.objects.filter(pk=paid.pk).update(refunded_pennies=500)
    _run(django_capture_on_commit_callbacks, "order_refunds_mismatch")
    smtp.received.clear()  # the alerts of the opening
    with django_capture_on_commit_callbacks(execute=True):
        assert staff_digest_task.apply().get() == {"messages": len(admins)}
    assert sorted(m["To"] for m in smtp.received) == admins
    assert (
        smtp.received[0]["Subject"]
        .strip()
        .startswith("PureLaka: 1 open issue needs attention")
    )
    text, html = smtp.parts(smtp.received[0])
    assert "order_refunds_mismatch" in text and "https://shop.example.com/" in text
    assert "order_refunds_mismatch" in html
    with django_capture_on_commit_callbacks(execute=True):
        assert staff_digest_send() == 0  # once per admin per business day
    assert len(smtp.received) == len(admins)


def test_no_digest_when_nothing_urgent_is_open(
    smtp, admins, django_capture_on_commit_callbacks
):
    from monitoring.services import staff_digest_send

    with django_capture_on_commit_callbacks(execute=True):
        assert staff_digest_send() == 0
    assert smtp.received == []
