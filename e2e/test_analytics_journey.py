"""End-to-end analytics journey in a real Chromium against the live app.

An analyst opens the executive dashboard, sees the KPI cards and the server-drawn
SVG charts, moves the window back in time and forward again, and downloads the
orders export, which is audited with its row count and SHA-256.

The data goes through the real services: orders placed through checkout, paid by
signed `payment_intent.succeeded` events (dated on past days) handed to the real
webhook pipeline, then the daily snapshots built by the management command.
"""

import csv
import datetime as dt
import hashlib
import io
import json
import re
import time
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CONTRACT = Path(settings.BASE_DIR) / "docs" / "contracts" / "kpi_contract.json"


@pytest.fixture
def analyst(transactional_db, password):
    from accounts.services import user_create

    return user_create(
        email="analyst@example.com",
        password=password,
        full_name="Anya Analyst",
        roles=["analyst"],
    )


def _place(shopper, variant, quantity):
    from orders.services.cart import CartEntry
    from orders.services.checkout import (
        ShippingAddress,
        new_checkout_token,
        order_place,
    )

    return order_place(
        customer=shopper,
        entries={variant.pk: CartEntry(quantity=quantity, seen_price_pennies=1400)},
        address=ShippingAddress(
            name="Sam", line1="1 High St", city="Leeds", postcode="LS1 1AA"
        ),
        checkout_token=new_checkout_token(),
    )


def _pay(order, *, n, moment):
    """Deliver a signed payment_intent.succeeded, dated `moment`, to the webhook."""
    from payments.gateway import sign
    from payments.tests.events import intent_succeeded
    from payments.webhook import receive

    event = intent_succeeded(
        order,
        pi=f"pi_analytics{n}",
        charge=f"ch_analytics{n}",
        created=int(moment.timestamp()),
    )
    body = json.dumps(event, separators=(",", ":")).encode()
    result = receive(body=body, signature=sign(body))
    assert result.status == 200, result.message
    order.refresh_from_db()
    assert order.status == "paid"


@pytest.fixture
def paid_history(mug, shopper):
    """Three paid orders, two 12 days ago and one 4 days ago; 30 days of snapshots."""
    from django.core.management import call_command
    from django.utils import timezone

    from core.timeutils import business_day

    variant = mug.variants.get()
    now = timezone.now()
    early, late = now - dt.timedelta(days=12), now - dt.timedelta(days=4)
    plan = [(1, early), (2, early), (1, late)]
    orders = []
    for n, (quantity, moment) in enumerate(plan, start=1):
        order = _place(shopper, variant, quantity)
        _pay(order, n=n, moment=moment)
        orders.append(order)
    call_command("build_analytics_snapshots", "--days", "30", stdout=io.StringIO())
    return {
        "orders": orders,
        "early_day": business_day(early),
        "late_day": business_day(late),
        "early_pennies": orders[0].total_pennies + orders[1].total_pennies,
        "late_pennies": orders[2].total_pennies,
    }


def _pounds(pennies):
    from core.money import format_money

    return format_money(pennies)


def _card(page, days, label):
    """The value shown on one KPI card of the 'Last N days' section."""
    heading = page.get_by_role("heading", name=re.compile(rf"^Last {days} days\b"))
    section = page.locator("section.kpi-window", has=heading)
    stat = section.locator(".stat", has=page.locator(".stat-label", has_text=label))
    return stat.locator(".stat-value")


def _contract_orders_columns():
    """The orders columns of the KPI contract (the export's until the file exists)."""
    from analyticsapp.exports import EXPORTS

    if not CONTRACT.exists():
        return list(EXPORTS["orders"].columns)
    exports = json.loads(CONTRACT.read_text())["exports"]
    entry = (
        exports["orders"]
        if isinstance(exports, dict)
        else next(e for e in exports if e.get("name") == "orders")
    )
    return list(entry["columns"] if isinstance(entry, dict) else entry)


def _export_audit(timeout=5.0):
    """The audit row of the orders download (written when the stream finishes)."""
    from audit.models import AuditLog

    deadline = time.monotonic() + timeout
    while True:
        rows = list(
            AuditLog.objects.filter(event_type="analytics.export", target_id="orders")
        )
        if rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def test_analyst_reads_the_dashboard_moves_the_window_and_exports_orders(
    page, live_server, analyst, paid_history, sign_in, tmp_path
):
    history = paid_history
    orders = history["orders"]
    early, late = history["early_pennies"], history["late_pennies"]
    total = early + late

    # 1. The dashboard: KPI cards and drawn charts.
    sign_in("analyst@example.com", path="/account/login/?next=/analytics/")
    expect(page).to_have_url(f"{live_server.url}/analytics/")
    expect(
        page.get_by_role("heading", name="Executive dashboard", level=1)
    ).to_be_visible()
    expect(page.locator(".stat-label", has_text="Gross revenue")).to_have_count(3)
    expect(_card(page, 30, "Gross revenue")).to_have_text(_pounds(total))
    expect(_card(page, 30, "Net revenue")).to_have_text(_pounds(total))
    expect(_card(page, 30, "Paid orders")).to_have_text("3")
    expect(_card(page, 7, "Gross revenue")).to_have_text(_pounds(late))
    expect(_card(page, 7, "Paid orders")).to_have_text("1")
    expect(_card(page, 90, "Gross revenue")).to_have_text(_pounds(total))

    figures = page.locator("figure.chart")
    expect(figures).to_have_count(3)
    for i in range(3):
        expect(figures.nth(i).locator("svg.chart-svg")).to_be_visible()
    expect(figures.locator("figcaption")).to_have_text(
        [
            "Daily gross, net and refunds",
            "Paid orders per day",
            "Average order value per day",
        ]
    )
    assert page.locator("figure.chart polyline").count() >= 3
    # One bar per day with paid orders: 2 orders on the early day, 1 on the late one.
    bars = page.locator("figure.chart rect.chart-bar")
    expect(bars).to_have_count(2)
    early_label = history["early_day"].strftime("%d %b")
    late_label = history["late_day"].strftime("%d %b")
    expect(bars.locator("title")).to_have_text(
        [f"{early_label} · Paid orders: 2", f"{late_label} · Paid orders: 1"]
    )
    money_chart = figures.filter(has_text="Daily gross, net and refunds")
    tips = money_chart.locator("circle.chart-point title")
    expect(tips.filter(has_text=f"{early_label} · Gross: ")).to_have_text(
        f"{early_label} · Gross: {_pounds(early)}"
    )
    expect(tips.filter(has_text=f"{late_label} · Gross: ")).to_have_text(
        f"{late_label} · Gross: {_pounds(late)}"
    )

    # 2. Move the window: as of the day before the first payment, nothing was sold.
    before = history["early_day"] - dt.timedelta(days=1)
    page.locator("#id_as_of").fill(before.isoformat())
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(rf"[?&]as_of={before.isoformat()}(&|$)"))
    expect(page.locator("#id_as_of")).to_have_value(before.isoformat())
    expect(page.locator("form.filters")).to_contain_text(
        f"As of {before.day} {before:%b %Y}"
    )
    for days in (7, 30, 90):
        expect(_card(page, days, "Gross revenue")).to_have_text("£0.00")
        expect(_card(page, days, "Paid orders")).to_have_text("0")
    expect(page.locator("figure.chart rect.chart-bar")).to_have_count(0)

    # As of the day after the first payments: only the early day's two orders count.
    after = history["early_day"] + dt.timedelta(days=1)
    page.locator("#id_as_of").fill(after.isoformat())
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(rf"[?&]as_of={after.isoformat()}(&|$)"))
    expect(_card(page, 30, "Gross revenue")).to_have_text(_pounds(early))
    expect(_card(page, 30, "Paid orders")).to_have_text("2")
    expect(_card(page, 7, "Gross revenue")).to_have_text(_pounds(early))
    expect(page.locator("figure.chart rect.chart-bar title")).to_have_text(
        [f"{early_label} · Paid orders: 2"]
    )

    # Cleared: back to the default (yesterday), everything counts again.
    page.locator("#id_as_of").fill("")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#id_as_of")).to_have_value("")
    expect(_card(page, 30, "Gross revenue")).to_have_text(_pounds(total))
    expect(_card(page, 7, "Gross revenue")).to_have_text(_pounds(late))

    # 3. The orders export: the contract's columns, one row per order, audited.
    page.get_by_role("navigation", name="Analytics").get_by_role(
        "link", name="Exports"
    ).click()
    expect(page).to_have_url(f"{live_server.url}/analytics/exports/")
    expect(page.get_by_role("heading", name="Exports", level=1)).to_be_visible()
    link = page.get_by_role("link", name="orders.csv", exact=True)
    expect(link).to_have_attribute("download", "")
    with page.expect_download() as info:
        link.click()
    download = info.value
    assert download.failure() is None
    assert download.suggested_filename == "purelaka-orders.csv"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    data = saved.read_bytes()

    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    header, body = rows[0], rows[1:]
    assert header == _contract_orders_columns()
    assert len(body) == len(orders)
    column = dict(zip(header, range(len(header)), strict=True))
    assert sorted(r[column["number"]] for r in body) == sorted(o.number for o in orders)
    assert {r[column["status"]] for r in body} == {"paid"}
    assert sorted(int(r[column["total_pennies"]]) for r in body) == sorted(
        o.total_pennies for o in orders
    )

    audits = _export_audit()
    assert len(audits) == 1
    audit = audits[0]
    assert audit.actor == analyst
    assert audit.metadata["rows"] == len(orders)
    assert audit.metadata["sha256"] == hashlib.sha256(data).hexdigest()
    assert audit.metadata["complete"] is True
    assert audit.metadata["filters"] == {"from": None, "to": None}
