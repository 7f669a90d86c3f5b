"""Dashboards: thin views over selectors, the as-of rule, "not applicable" and
"no prior data" on screen, amounts in their currency, the definitions as prose."""

import datetime as dt
import re

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from analyticsapp.kpis import KPI_DEFINITIONS_VERSION
from analyticsapp.models import DailySnapshot, MrrDailySnapshot

pytestmark = pytest.mark.django_db
TODAY = dt.datetime(2026, 7, 15, 12, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(TODAY, tick=False):
        yield


@pytest.fixture
def analyst_client(client, analyst):
    client.force_login(analyst)
    return client


def _day(day, **values):
    return DailySnapshot.objects.create(day=day, built_at=timezone.now(), **values)


def _text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def test_a_refund_in_a_week_without_revenue_shows_no_refund_rate_not_0(
    analyst_client,
):
    for offset in range(14):
        _day(dt.date(2026, 7, 1) + dt.timedelta(days=offset))
    DailySnapshot.objects.filter(day=dt.date(2026, 7, 14)).update(
        refunds_pennies=600, net_revenue_pennies=-600
    )
    response = analyst_client.get(reverse("analyticsapp:dashboard"))
    assert response.status_code == 200
    week = _text(response).split("Last 7 days")[1].split("Last 30 days")[0]
    assert re.search(r"Refunds £6\.00", week)
    assert re.search(r"Refund rate —", week)
    assert re.search(r"Average order value —", week)
    assert "0%" not in week.split("Refund rate")[1][:20]


def test_a_window_before_the_history_says_no_prior_data_not_plus_100(
    analyst_client,
):
    for offset in range(7):
        _day(dt.date(2026, 7, 8) + dt.timedelta(days=offset), gross_revenue_pennies=100)
    text = _text(analyst_client.get(reverse("analyticsapp:dashboard")))
    week = text.split("Last 7 days")[1].split("Last 30 days")[0]
    assert re.search(r"Gross revenue £7\.00 .{0,60}no prior data", week)
    assert "100%" not in week


@pytest.mark.parametrize("day", ["2026-07-15", "2026-08-01"])
def test_today_and_future_days_are_refused_with_a_message(analyst_client, day):
    response = analyst_client.get(reverse("analyticsapp:dashboard"), {"as_of": day})
    assert response.status_code == 200
    text = _text(response)
    assert "Pick a day that is over: 14 Jul 2026 or earlier" in text
    assert "As of 14 Jul 2026" in text  # the page shows the default


def test_a_valid_window_survives_a_refused_as_of(analyst_client):
    response = analyst_client.get(
        reverse("analyticsapp:products"), {"as_of": "2026-07-20", "days": "7"}
    )
    assert response.context["params"]["days"] == 7
    assert response.context["params"]["as_of"] == dt.date(2026, 7, 14)


def test_subscriptions_show_no_churn_rate_when_nobody_paid_at_the_start(
    analyst_client,
):
    MrrDailySnapshot.objects.create(
        day=dt.date(2026, 6, 20), new_pennies=600, mrr_pennies=600, net_new_pennies=600,
        paying_customers=1, active_subscriptions=1, new_customers=1,
    )  # fmt: skip
    MrrDailySnapshot.objects.create(
        day=dt.date(2026, 6, 21), churn_pennies=600, net_new_pennies=-600,
        churned_customers=1,
    )  # fmt: skip
    response = analyst_client.get(
        reverse("analyticsapp:subscriptions"), {"as_of": "2026-07-14"}
    )
    text = _text(response)
    assert "churn £6.00" in text
    assert re.search(r"Customer churn —", text)
    assert re.search(r"Gross / net MRR churn — / —", text)
    assert re.search(r"MRR £0\.00 no prior data", text)
    assert "Current subscribers now, not as of 14 Jul 2026" in text


def test_amounts_are_shown_in_the_store_currency(analyst_client, settings):
    settings.STORE_CURRENCY = "USD"
    _day(dt.date(2026, 7, 14), gross_revenue_pennies=1234)
    text = _text(analyst_client.get(reverse("analyticsapp:dashboard")))
    assert "$12.34" in text and "£" not in text


def test_every_dashboard_renders(analyst_client):
    for name in ("dashboard", "customers", "products", "subscriptions", "ops"):
        response = analyst_client.get(
            reverse(f"analyticsapp:{name}"), {"as_of": "2026-07-01"}
        )
        assert response.status_code == 200, name
        assert "As of 1 Jul 2026" in _text(response), name


def test_the_definitions_page_is_prose_without_markup_or_source_paths(
    analyst_client,
):
    response = analyst_client.get(reverse("analyticsapp:definitions"))
    body = response.content.decode()
    article = body.split('<article class="card prose">')[1].split("</article>")[0]
    text = _text(response)
    assert "*" not in article
    assert not re.search(r"[\w/]+\.(py|md|json)\b", article)
    assert "<!--" not in article and "For developers" not in article
    assert '<a id="dispute_losses"></a><strong>dispute_losses</strong>' in article
    assert f"Version: {KPI_DEFINITIONS_VERSION}" in text
    # A paragraph is one <p>, not a line each.
    assert "<p>All money is in the shop&#x27;s own currency" in article


def test_the_doc_renderer_drops_sentences_naming_a_source_file():
    from analyticsapp.views import _render_doc

    html = _render_doc(
        "# T\n\nKept. Built in `analyticsapp/kpis.py` nightly. Also *kept*.\n\n"
        "- **a**: one\n  line on.\n  - sub, see ARCHITECTURE.md.\n  - sub two\n"
    )
    assert "<p>Kept. Also <em>kept</em>.</p>" in html
    assert "<li><strong>a</strong>: one line on.<ul><li>sub two</li></ul></li>" in html


def test_subscriptions_in_another_currency_are_counted_apart_as_of_the_day(
    analyst_client,
):
    MrrDailySnapshot.objects.create(
        day=dt.date(2026, 7, 13), other_currency_subscriptions=5
    )
    MrrDailySnapshot.objects.create(
        day=dt.date(2026, 7, 14), mrr_pennies=1200, other_currency_subscriptions=2
    )
    text = _text(
        analyst_client.get(
            reverse("analyticsapp:subscriptions"), {"as_of": "2026-07-14"}
        )
    )
    assert re.search(
        r"Other-currency subscriptions 2 active or past due, not in MRR", text
    )


def test_subscribers_are_named_by_customer_and_plan_with_links_for_ops(
    analyst_client, client, make_user
):
    from subscriptions.models import Subscription
    from subscriptions.tests.factories import plan_variant

    customer = make_user("customer", email="cora@example.com", full_name="Cora Potter")
    variant = plan_variant(price_pennies=1200, name="Monthly Lake Box")
    Subscription.objects.create(
        stripe_subscription_id="sub_named",
        customer=customer,
        variant=variant,
        status="active",
        currency="GBP",
        mrr_pennies=1200,
        stripe_seen_at=timezone.now(),
        stripe_seen_event="evt_named",
    )
    url = reverse("analyticsapp:subscriptions")
    page = analyst_client.get(url).content.decode()
    assert "Cora Potter" in page and "Monthly Lake Box" in page and "sub_named" in page
    link = reverse("customers_ops:customer", args=[customer.pk])
    assert f'href="{link}"' not in page  # analysts cannot open the ops page
    client.force_login(make_user("admin"))
    assert f'href="{link}"' in client.get(url).content.decode()
