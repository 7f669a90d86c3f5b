"""The customer's subscriptions page, cancelling at period end, and the offline
renewals that end or renew subscriptions at their period end."""

import datetime as dt
import io

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from audit.models import AuditLog
from core.exceptions import DomainError
from payments.gateway import period_end
from payments.models import Payment
from subscriptions.billing import (
    subscription_cancel_at_period_end,
    subscriptions_renew_offline,
)
from subscriptions.models import Subscription
from subscriptions.tests.factories import plan_variant, subscribe_offline

pytestmark = pytest.mark.django_db


@pytest.fixture
def coffee(customer):
    """The customer's Coffee Club subscription, £12 a month, just started."""
    return subscribe_offline(
        customer=customer,
        variant=plan_variant(name="Coffee Club", price_pennies=1200),
    )


def _renew(capture, at: dt.datetime, *args) -> str:
    out = io.StringIO()
    with time_machine.travel(at, tick=False), capture(execute=True):
        call_command("renew_subscriptions_offline", *args, stdout=out)
    return out.getvalue()


def _cancel(capture, subscription):
    with capture(execute=True):
        subscription_cancel_at_period_end(
            subscription=subscription, actor=subscription.customer
        )
    subscription.refresh_from_db()
    return subscription


# --- the page ------------------------------------------------------------------------


def test_the_page_lists_the_customers_own_subscriptions_only(
    client, customer, coffee, make_user
):
    subscribe_offline(
        customer=make_user("customer"),
        variant=plan_variant(name="Stationery Box", interval="year"),
    )
    client.force_login(customer)
    page = client.get(reverse("subscriptions:list")).content.decode()
    assert "Coffee Club" in page
    assert "£12.00 / month" in page
    assert "Active" in page
    assert f"{coffee.current_period_end:%-d %b %Y}" in page
    assert "Cancel at period end" in page
    assert "Stationery Box" not in page


def test_the_navigation_offers_subscriptions_to_customers(client, customer):
    client.force_login(customer)
    page = client.get(reverse("catalog:home")).content.decode()
    assert f'href="{reverse("subscriptions:list")}"' in page


def test_cancel_at_period_end_is_pending_until_stripe_confirms_it(
    client, customer, coffee, django_capture_on_commit_callbacks
):
    client.force_login(customer)
    url = reverse("subscriptions:cancel", args=[coffee.pk])
    asked = client.post(url)
    assert b"It is not renewed: no further payment is taken." in asked.content
    coffee.refresh_from_db()
    assert not coffee.cancel_pending  # nothing before the confirmation
    with django_capture_on_commit_callbacks() as stripe_answers:
        response = client.post(url, {"confirmed": "1"})
    assert response["Location"] == reverse("subscriptions:list")
    coffee.refresh_from_db()
    assert coffee.cancel_pending and not coffee.cancel_at_period_end
    page = client.get(reverse("subscriptions:list")).content.decode()
    assert "waiting for Stripe to confirm" in page
    assert "Cancel at period end" not in page
    request = AuditLog.objects.get(event_type="subscription.cancel_requested")
    assert request.actor == customer
    assert request.target_id == str(coffee.pk)

    with django_capture_on_commit_callbacks() as again:
        client.post(url)  # a second click while pending asks Stripe nothing
    assert again == []

    with django_capture_on_commit_callbacks(execute=True):
        for deliver in stripe_answers:
            deliver()
    coffee.refresh_from_db()
    assert coffee.cancel_at_period_end and not coffee.cancel_pending
    assert coffee.status == "active"
    assert coffee.mrr_pennies == 1200
    assert coffee.cancel_at == coffee.current_period_end
    page = client.get(reverse("subscriptions:list")).content.decode()
    assert f"Cancels on {coffee.current_period_end:%-d %b %Y}" in page
    assert "waiting for Stripe" not in page


def test_a_subscription_set_to_cancel_ends_at_its_period_end(
    coffee, django_capture_on_commit_callbacks
):
    coffee = _cancel(django_capture_on_commit_callbacks, coffee)
    ends = coffee.current_period_end
    out = _renew(django_capture_on_commit_callbacks, ends + dt.timedelta(hours=1))
    coffee.refresh_from_db()
    assert coffee.status == "canceled"
    assert coffee.ended_at == ends
    assert coffee.mrr_pennies == 0
    assert coffee.changes.last().event_type == "customer.subscription.deleted"
    assert Payment.objects.count() == 1  # no renewal billed
    assert f"{coffee.stripe_subscription_id}: ended" in out
    assert "1 subscription(s) due" in out and "0 renewal(s), 1 ended" in out


def test_a_renewal_bills_the_next_period_and_moves_it(
    coffee, django_capture_on_commit_callbacks
):
    anchor = int(coffee.current_period_start.timestamp())
    first_end = coffee.current_period_end
    out = _renew(django_capture_on_commit_callbacks, first_end + dt.timedelta(days=1))
    coffee.refresh_from_db()
    assert coffee.status == "active" and coffee.mrr_pennies == 1200
    assert coffee.current_period_start == first_end
    assert int(coffee.current_period_end.timestamp()) == period_end(
        anchor, "month", 1, 2
    )
    renewal = Payment.objects.order_by("paid_at").last()
    assert Payment.objects.count() == 2
    assert renewal.source == Payment.Source.SUBSCRIPTION
    assert renewal.amount_pennies == 1200 and renewal.customer == coffee.customer
    assert renewal.paid_at == first_end  # revenue on the day Stripe bills it
    assert "1 renewal(s), 0 ended" in out

    again = _renew(django_capture_on_commit_callbacks, first_end + dt.timedelta(days=1))
    assert "0 subscription(s) due" in again
    assert Payment.objects.count() == 2


def test_renewals_catch_up_every_period_that_ended(
    coffee, django_capture_on_commit_callbacks
):
    anchor = int(coffee.current_period_start.timestamp())
    later = dt.datetime.fromtimestamp(period_end(anchor, "month", 1, 3), tz=dt.UTC)
    out = _renew(django_capture_on_commit_callbacks, later + dt.timedelta(hours=2))
    coffee.refresh_from_db()
    assert "3 renewal(s)" in out
    assert Payment.objects.count() == 4
    assert int(coffee.current_period_start.timestamp()) == period_end(
        anchor, "month", 1, 3
    )
    paid = [
        int(p.timestamp()) for p in Payment.objects.values_list("paid_at", flat=True)
    ]
    assert sorted(paid) == [anchor] + [
        period_end(anchor, "month", 1, n) for n in (1, 2, 3)
    ]


def test_a_repeated_renewal_run_bills_nothing_twice(
    coffee, django_capture_on_commit_callbacks
):
    at = coffee.current_period_end + dt.timedelta(days=1)
    with (
        time_machine.travel(at, tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        # Both runs go out before either's events arrive: the same invoices twice.
        first = subscriptions_renew_offline()
        second = subscriptions_renew_offline()
    assert (first.renewals, second.renewals) == (1, 1)
    assert Payment.objects.count() == 2
    audit = AuditLog.objects.filter(event_type="subscriptions.renewed_offline")
    assert audit.count() == 2
    assert audit.first().metadata["renewals"] == 1


def test_renewals_stop_at_the_day_given(coffee, django_capture_on_commit_callbacks):
    day_before = (coffee.current_period_end - dt.timedelta(days=2)).date()
    out = _renew(
        django_capture_on_commit_callbacks,
        coffee.current_period_end + dt.timedelta(days=5),
        "--at",
        day_before.isoformat(),
    )
    assert "0 subscription(s) due" in out
    assert Payment.objects.count() == 1


def test_renewals_refuse_with_stripe_as_the_gateway(settings):
    settings.PAYMENTS_USE_STRIPE = True
    with pytest.raises(CommandError, match="offline payments") as refused:
        call_command("renew_subscriptions_offline")
    assert "\n" not in str(refused.value)


def test_renewals_refuse_a_date_that_is_not_one():
    with pytest.raises(CommandError, match="not a date like"):
        call_command("renew_subscriptions_offline", "--at", "31/03/2026")


def test_month_end_billing_keeps_the_anchor_day():
    anchor = int(dt.datetime(2026, 1, 31, 9, tzinfo=dt.UTC).timestamp())
    ends = [
        dt.datetime.fromtimestamp(period_end(anchor, "month", 1, n), tz=dt.UTC).date()
        for n in (1, 2, 3)
    ]
    assert ends == [dt.date(2026, 2, 28), dt.date(2026, 3, 31), dt.date(2026, 4, 30)]
    leap = int(dt.datetime(2028, 2, 29, tzinfo=dt.UTC).timestamp())
    assert dt.datetime.fromtimestamp(
        period_end(leap, "year", 1, 1), tz=dt.UTC
    ).date() == dt.date(2029, 2, 28)


# --- whose subscription ----------------------------------------------------------


def test_cancelling_someone_elses_subscription_is_not_found(
    client, make_user, django_capture_on_commit_callbacks
):
    theirs = subscribe_offline(customer=make_user("customer"), variant=plan_variant())
    for who in ("customer", "admin"):
        client.force_login(make_user(who))
        with django_capture_on_commit_callbacks() as sent:
            response = client.post(reverse("subscriptions:cancel", args=[theirs.pk]))
        assert response.status_code == 404, who
        assert sent == []
    theirs.refresh_from_db()
    assert theirs.cancel_requested_at is None
    assert not AuditLog.objects.filter(event_type="subscription.cancel_requested")


def test_an_ended_subscription_cannot_be_canceled(
    client, coffee, django_capture_on_commit_callbacks
):
    coffee = _cancel(django_capture_on_commit_callbacks, coffee)
    _renew(django_capture_on_commit_callbacks, coffee.current_period_end)
    coffee.refresh_from_db()
    assert coffee.status == Subscription.Status.CANCELED
    with pytest.raises(DomainError, match="already ended"):
        subscription_cancel_at_period_end(subscription=coffee, actor=coffee.customer)
    client.force_login(coffee.customer)
    page = client.get(reverse("subscriptions:list")).content.decode()
    assert "Canceled" in page and "Cancel at period end" not in page
    assert f"Ended {coffee.ended_at:%-d %b %Y}" in page
