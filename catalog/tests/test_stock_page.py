"""The ops stock page: one low-stock rule, search, filters, history, thresholds."""

import datetime as dt

import pytest
from django.urls import reverse

from analyticsapp import kpis
from analyticsapp.models import ProductDailySnapshot
from audit.models import AuditLog
from catalog.models import Product
from catalog.selectors import is_low_stock, stock_overview
from catalog.services.stock import stock_adjust
from catalog.tests.factories import ProductFactory, VariantFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("available", "threshold", "preorder", "low"),
    [
        (5, 5, False, True),
        (6, 5, False, False),
        (0, 5, False, True),
        (0, 5, True, False),
    ],
)
def test_low_stock_is_at_or_below_the_threshold_and_never_a_preorder(
    available, threshold, preorder, low
):
    assert (
        is_low_stock(available=available, threshold=threshold, is_preorder=preorder)
        is low
    )


@pytest.fixture
def stock():
    """Plenty, low, out, and a preorder at 0 (never low)."""
    return {
        "plenty": VariantFactory(stock=40, sku="OAT-L", product__name="Oat jumper"),
        "low": VariantFactory(stock=3, sku="RYE-M", product__name="Rye scarf"),
        "out": VariantFactory(sku="FIG-S", product__name="Fig socks"),
        "preorder": VariantFactory(
            sku="NEW-1", product=ProductFactory(name="New coat", is_preorder=True)
        ),
    }


def _skus(client, **params):
    response = client.get(reverse("ops:stock"), params)
    assert response.status_code == 200
    return {v.sku for v in response.context["page"].object_list}, response


def test_the_page_counts_low_stock_by_the_one_rule(client, ops_user, stock):
    client.force_login(ops_user)
    everything, response = _skus(client)
    assert everything == {"OAT-L", "RYE-M", "FIG-S", "NEW-1"}
    assert response.context["low_count"] == 2  # RYE-M and FIG-S, not the preorder
    page = response.content.decode()
    assert "<strong>2</strong> variants at or below the low-stock threshold" in page
    assert page.count('class="row-warn"') == 2


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"show": "low"}, {"RYE-M", "FIG-S"}),
        ({"low": "1"}, {"RYE-M", "FIG-S"}),  # the old link
        ({"show": "out"}, {"FIG-S"}),
        ({"show": "preorder"}, {"NEW-1"}),
        ({"q": "jumper"}, {"OAT-L"}),
        ({"q": "fig-"}, {"FIG-S"}),
        ({"q": "scarf", "show": "low"}, {"RYE-M"}),
        ({"q": "scarf", "show": "bogus"}, {"RYE-M"}),  # a bad filter alone is ignored
    ],
)
def test_search_and_filters(client, ops_user, stock, params, expected):
    client.force_login(ops_user)
    assert _skus(client, **params)[0] == expected


def test_the_history_lists_every_movement_with_who_and_why(client, ops_user, stock):
    variant = stock["low"]
    stock_adjust(variant=variant, delta=-1, note="Damaged in the shop", actor=ops_user)
    client.force_login(ops_user)
    listing = client.get(reverse("ops:stock")).content.decode()
    url = reverse("ops:stock_movements", args=[variant.pk])
    assert f'href="{url}"' in listing
    page = client.get(url).content.decode()
    assert "Stock received" in page and ">+3<" in page
    assert "Manual adjustment" in page and ">-1<" in page
    assert "Damaged in the shop" in page and ops_user.email in page
    missing = client.get(reverse("ops:stock_movements", args=[999_999]))
    assert missing.status_code == 404


def test_ops_edit_a_threshold_and_it_is_audited(client, ops_user, stock):
    product = stock["plenty"].product
    client.force_login(ops_user)
    url = reverse("ops:stock_threshold", args=[product.pk])
    client.post(url, {"threshold": "50"}, follow=True)
    assert Product.objects.get(pk=product.pk).low_stock_threshold == 50
    row = AuditLog.objects.get(event_type="catalog.threshold_changed")
    assert row.actor == ops_user
    assert row.metadata == {"product": product.name, "before": 5, "after": 50}
    assert stock_overview(show="low").count() == 3  # OAT-L is now low too
    client.post(url, {"threshold": "50"})
    assert AuditLog.objects.filter(event_type="catalog.threshold_changed").count() == 1


@pytest.mark.parametrize("value", ["-1", "abc", "100001", ""])
def test_a_bad_threshold_is_refused_with_a_message(client, ops_user, stock, value):
    product = stock["plenty"].product
    client.force_login(ops_user)
    response = client.post(
        reverse("ops:stock_threshold", args=[product.pk]),
        {"threshold": value},
        follow=True,
    )
    assert response.status_code == 200
    assert f"{product.name}: " in response.content.decode()
    assert Product.objects.get(pk=product.pk).low_stock_threshold == 5
    assert not AuditLog.objects.filter(event_type="catalog.threshold_changed").exists()


def test_the_products_dashboard_uses_the_same_rule_and_leaves_preorders_out(stock):
    as_of = dt.date(2026, 3, 31)
    for variant in stock.values():
        ProductDailySnapshot.objects.create(
            day=as_of,
            product=variant.product,
            variant=variant,
            units=3,
            revenue_pennies=4500,
        )
    rows = {r["variant"].sku: r for r in kpis.stock_cover(as_of=as_of, limit=None)}
    assert set(rows) == {"OAT-L", "RYE-M", "FIG-S"}
    assert {sku for sku, r in rows.items() if r["low"]} == {
        v.sku for v in stock_overview(show="low")
    }
