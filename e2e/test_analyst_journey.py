"""The analyst's journey in a real Chromium against the live app.

An analyst reads the executive dashboard (KPI cards, server-drawn SVG charts),
moves its window back in time and forward again, reads the customers, products
(with a narrower window) and subscriptions dashboards and the KPI definitions,
then downloads the orders and daily-KPI exports and opens them; each download is
audited with its row count and SHA-256.

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

from e2e.pages import cell, nav_link

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CONTRACT = Path(settings.BASE_DIR) / "docs" / "contracts" / "kpi_contract.json"
EXECUTIVE_CHARTS = [
    "Daily gross, net and refunds",
    "Paid orders per day",
    "Average order value per day",
]


def _place(customer, variant, quantity):
    from orders.tests.factories import place_order

    return place_order(customer=customer, variants={variant: quantity})


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


def _subscribe(customer, plan, moment):
    """Subscribe through the offline subscription checkout, at a past moment."""
    from django.urls import resolve

    from demo.history import travel_to
    from payments.gateway import OfflineGateway
    from subscriptions.checkout import subscription_checkout_start

    with travel_to(moment):
        session = subscription_checkout_start(
            customer=customer, variant=plan, success_url="/", cancel_url="/"
        )
        token = resolve(session.url).kwargs["token"]
        OfflineGateway().subscribe(session=OfflineGateway.subscription_session(token))


@pytest.fixture
def paid_history(mug, coffee_club, shopper):
    """Three paid orders, two 12 days ago and one 4 days ago; a £12.00 monthly
    subscription started 20 days ago; 30 days of snapshots."""
    from django.core.management import call_command
    from django.utils import timezone

    from core.timeutils import business_day

    variant = mug.variants.get()
    now = timezone.now()
    early, late = now - dt.timedelta(days=12), now - dt.timedelta(days=4)
    subscribed = now - dt.timedelta(days=20)
    _subscribe(shopper, coffee_club.variants.get(), subscribed)
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
        "subscribed_day": business_day(subscribed),
        "early_pennies": orders[0].total_pennies + orders[1].total_pennies,
        "late_pennies": orders[2].total_pennies,
        "subscription_pennies": 1200,
    }


def _pounds(pennies):
    from core.money import format_money

    return format_money(pennies)


def _card(days, label, value):
    """What the 'Last N days' section shows for one KPI: its label, then its value."""
    return re.compile(
        rf"Last {days} days\b((?!Last \d+ days)[\s\S])*?"
        rf"{re.escape(label)}\s*{re.escape(value)}(?![\d.,])"
    )


def _expect_cards(page, cards):
    main = page.get_by_role("main")
    for days, label, value in cards:
        expect(main).to_contain_text(_card(days, label, value))


def _expect_cards_plain(page, cards):
    """KPI cards outside a 'Last N days' section: each label, then its value."""
    main = page.get_by_role("main")
    for label, value in cards:
        pattern = rf"{re.escape(label)}\s*{re.escape(value)}(?![\d.,])"
        expect(main).to_contain_text(re.compile(pattern))


def _expect_charts_drawn(page, names):
    """Each chart is an SVG image, named after its caption, with marks drawn on it."""
    for name in names:
        chart = page.get_by_role("img", name=name)
        expect(chart).to_be_visible()
        marks = chart.locator("polyline, rect, circle, path")
        expect(marks.first).to_be_attached()
        assert marks.count() > 0, f"the chart {name!r} has no marks"


def _tooltips(chart):
    """The tooltips (SVG <title>s) of a chart's marks."""
    return chart.locator("title")


def _apply(page, **fields):
    for label, value in fields.items():
        field = page.get_by_label(label, exact=True)
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(label=value)
        else:
            field.fill(value)
    page.get_by_role("button", name="Apply").click()


def _contract_columns(name):
    """The export's columns as the KPI contract fixes them."""
    exports = json.loads(CONTRACT.read_text())["exports"]
    entry = (
        exports[name]
        if isinstance(exports, dict)
        else next(e for e in exports if e.get("name") == name)
    )
    return list(entry["columns"] if isinstance(entry, dict) else entry)


def _download(page, link_name, tmp_path):
    """Click a download link; the saved file's bytes and its suggested name."""
    link = page.get_by_role("link", name=link_name, exact=True)
    with page.expect_download() as info:
        link.click()
    download = info.value
    assert download.failure() is None
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    return saved.read_bytes(), download.suggested_filename


def _export_audits(target, count, timeout=5.0):
    """The audit rows of a download (written when its stream finishes)."""
    from audit.models import AuditLog

    deadline = time.monotonic() + timeout
    while True:
        rows = list(
            AuditLog.objects.filter(event_type="analytics.export", target_id=target)
        )
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def test_analyst_reads_the_dashboards_moves_the_window_and_opens_the_exports(
    page, live_server, analyst, paid_history, sign_in, a11y, tmp_path
):
    history = paid_history
    orders = history["orders"]
    early, late = history["early_pennies"], history["late_pennies"]
    monthly = history["subscription_pennies"]
    total = early + late + monthly  # gross counts subscription revenue too
    url = live_server.url
    early_label = history["early_day"].strftime("%d %b")
    late_label = history["late_day"].strftime("%d %b")
    subscribed_label = history["subscribed_day"].strftime("%d %b")

    # 1. The executive dashboard: KPI cards and drawn charts.
    sign_in("analyst@example.com", path="/account/login/?next=/analytics/")
    expect(page).to_have_url(f"{url}/analytics/")
    expect(
        page.get_by_role("heading", name="Executive dashboard", level=1)
    ).to_be_visible()
    for days in (7, 30, 90):
        heading = page.get_by_role("heading", name=re.compile(rf"^Last {days} days"))
        expect(heading).to_be_visible()
    _expect_cards(
        page,
        [
            (7, "Gross revenue", _pounds(late)),
            (7, "Paid orders", "1"),
            (30, "Gross revenue", _pounds(total)),
            (30, "Net revenue", _pounds(total)),
            (30, "Paid orders", "3"),
            (90, "Gross revenue", _pounds(total)),
        ],
    )
    _expect_charts_drawn(page, EXECUTIVE_CHARTS)
    # One bar per day with paid orders: 2 orders on the early day, 1 on the late one.
    orders_chart = page.get_by_role("img", name="Paid orders per day")
    expect(_tooltips(orders_chart)).to_have_text(
        [f"{early_label} · Paid orders: 2", f"{late_label} · Paid orders: 1"]
    )
    money_chart = page.get_by_role("img", name="Daily gross, net and refunds")
    tips = _tooltips(money_chart)
    expect(tips.filter(has_text=f"{early_label} · Gross: ")).to_have_text(
        f"{early_label} · Gross: {_pounds(early)}"
    )
    expect(tips.filter(has_text=f"{late_label} · Gross: ")).to_have_text(
        f"{late_label} · Gross: {_pounds(late)}"
    )
    expect(tips.filter(has_text=f"{subscribed_label} · Gross: ")).to_have_text(
        f"{subscribed_label} · Gross: {_pounds(monthly)}"
    )
    assert money_chart.locator("polyline").count() == 3  # gross, net, refunds
    a11y.check("executive dashboard")

    # 2. Move the window: as of the day before the first order was paid, only the
    # subscription (in the 30 and 90 days, not the last 7) had brought money in.
    before = history["early_day"] - dt.timedelta(days=1)
    _apply(page, **{"As of": before.isoformat()})
    expect(page).to_have_url(re.compile(rf"[?&]as_of={before.isoformat()}(&|$)"))
    expect(page.get_by_label("As of", exact=True)).to_have_value(before.isoformat())
    expect(page.get_by_text(f"As of {before.day} {before:%b %Y}")).to_be_visible()
    _expect_cards(
        page,
        [
            (7, "Gross revenue", "£0.00"),
            (30, "Gross revenue", _pounds(monthly)),
            (90, "Gross revenue", _pounds(monthly)),
            *[(d, "Paid orders", "0") for d in (7, 30, 90)],
        ],
    )
    expect(
        _tooltips(page.get_by_role("img", name="Paid orders per day"))
    ).to_have_count(0)

    # As of the day after the first payments: only the early day's two orders count.
    after = history["early_day"] + dt.timedelta(days=1)
    _apply(page, **{"As of": after.isoformat()})
    expect(page).to_have_url(re.compile(rf"[?&]as_of={after.isoformat()}(&|$)"))
    _expect_cards(
        page,
        [
            (30, "Gross revenue", _pounds(early + monthly)),
            (30, "Paid orders", "2"),
            (7, "Gross revenue", _pounds(early)),
        ],
    )
    expect(_tooltips(page.get_by_role("img", name="Paid orders per day"))).to_have_text(
        [f"{early_label} · Paid orders: 2"]
    )

    # Cleared: back to the default (yesterday), everything counts again.
    _apply(page, **{"As of": ""})
    expect(page.get_by_label("As of", exact=True)).to_have_value("")
    _expect_cards(
        page,
        [(30, "Gross revenue", _pounds(total)), (7, "Gross revenue", _pounds(late))],
    )

    # 3. The other dashboards, each with its charts drawn.
    nav_link(page, "Analytics", "Customers").click()
    expect(page.get_by_role("heading", name="Customers", level=1)).to_be_visible()
    _expect_charts_drawn(
        page, ["New and returning customers per day", "Cohort retention heatmap"]
    )
    a11y.check("customers dashboard")

    nav_link(page, "Analytics", "Products").click()
    expect(page.get_by_role("heading", name="Products", level=1)).to_be_visible()
    _expect_charts_drawn(page, ["Best sellers, 30 days (units)"])
    sellers = page.get_by_role("row").filter(has_text="MUG-SAG").first
    expect(cell(sellers, "Units")).to_have_text("4")
    expect(cell(sellers, "Revenue")).to_have_text("£56.00")
    a11y.check("products dashboard")
    _apply(page, Window="7 days")
    expect(page).to_have_url(re.compile(r"[?&]days=7(&|$)"))
    _expect_charts_drawn(page, ["Best sellers, 7 days (units)"])
    expect(cell(sellers, "Units")).to_have_text("1")
    expect(cell(sellers, "Revenue")).to_have_text("£14.00")

    nav_link(page, "Analytics", "Subscriptions").click()
    expect(page.get_by_role("heading", name="Subscriptions", level=1)).to_be_visible()
    _expect_charts_drawn(page, ["MRR at the end of each day", "MRR gained per day"])
    # Nobody churned: the losses chart is drawn with no marks on it.
    expect(page.get_by_role("img", name="MRR lost per day")).to_be_visible()
    _expect_cards_plain(
        page,
        [("MRR", _pounds(monthly)), ("ARPU", _pounds(monthly))],
    )
    subscriber = page.get_by_role("row").filter(has_text="shopper@example.com")
    expect(cell(subscriber, "Status")).to_have_text("Active")
    expect(cell(subscriber, "MRR")).to_have_text(_pounds(monthly))
    a11y.check("subscriptions dashboard")

    nav_link(page, "Analytics", "Definitions").click()
    expect(page.get_by_role("heading", name="KPI definitions", level=1)).to_be_visible()
    expect(page.get_by_text(re.compile(r"^gross_revenue$"))).to_be_visible()
    a11y.check("definitions")

    # 4. The exports: the contract's columns, one row per order (or day), audited.
    nav_link(page, "Analytics", "Exports").click()
    expect(page).to_have_url(f"{url}/analytics/exports/")
    expect(page.get_by_role("heading", name="Exports", level=1)).to_be_visible()
    expect(page.get_by_role("link", name="orders.csv", exact=True)).to_have_attribute(
        "download", ""
    )
    a11y.check("exports")

    data, filename = _download(page, "orders.csv", tmp_path)
    assert filename == "purelaka-orders.csv"
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    header, body = rows[0], rows[1:]
    assert header == _contract_columns("orders")
    assert len(body) == len(orders)
    column = {name: i for i, name in enumerate(header)}
    assert sorted(r[column["number"]] for r in body) == sorted(o.number for o in orders)
    assert {r[column["status"]] for r in body} == {"paid"}
    assert sorted(int(r[column["total_pennies"]]) for r in body) == sorted(
        o.total_pennies for o in orders
    )
    [audit] = _export_audits("orders", 1)
    assert audit.actor == analyst
    assert audit.metadata["rows"] == len(orders)
    assert audit.metadata["sha256"] == hashlib.sha256(data).hexdigest()
    assert audit.metadata["complete"] is True

    kpis, filename = _download(page, "daily_kpis.csv", tmp_path)
    assert filename == "purelaka-daily_kpis.csv"
    reader = csv.DictReader(io.StringIO(kpis.decode("utf-8")))
    assert reader.fieldnames == _contract_columns("daily_kpis")
    by_day = {row["day"]: row for row in reader}
    early_row = by_day[history["early_day"].isoformat()]
    assert (early_row["paid_orders"], early_row["gross_revenue_pennies"]) == (
        "2",
        str(early),
    )
    assert by_day[history["late_day"].isoformat()]["units_sold"] == "1"
    [audit] = _export_audits("daily_kpis", 1)
    assert audit.metadata["sha256"] == hashlib.sha256(kpis).hexdigest()

    # 5. A custom range against last year: an order paid on the early day's date a
    # year ago, its day built; the gross revenue card shows both values.
    then = _year_earlier_order(history)
    start = history["early_day"] - dt.timedelta(days=1)
    end = history["late_day"] + dt.timedelta(days=1)
    nav_link(page, "Analytics", "Executive").click()
    _apply(
        page,
        **{
            "From": start.isoformat(),
            "To": end.isoformat(),
            "Compare with": "A year earlier",
        },
    )
    expect(page).to_have_url(re.compile(r"[?&]compare=year(&|$)"))
    expect(page).to_have_url(re.compile(rf"[?&]from={start.isoformat()}(&|$)"))
    expect(page.get_by_label("To", exact=True)).to_have_value(end.isoformat())
    main = page.get_by_role("main")
    expect(main).to_contain_text(
        re.compile(
            rf"Gross revenue\s*{re.escape(_pounds(early + late))}\s*"
            rf"A year earlier:\s*{re.escape(_pounds(then))}(?![\d.,])"
        )
    )
    expect(
        page.get_by_role("heading", name=re.compile(r"^Last \d+ days"))
    ).to_have_count(0)  # the range replaces the three windows
    money_chart = page.get_by_role("img", name="Daily gross, net and refunds")
    expect(money_chart.locator("polyline.chart-comparison")).to_have_count(1)
    expect(
        page.get_by_role("list", name="Legend").first.get_by_text(
            "Gross, a year earlier"
        )
    ).to_be_visible()
    a11y.check("executive dashboard, a range against last year")
    a11y.assert_clean()


def _year_earlier_order(history) -> int:
    """Pay one more order on the early day's date a year earlier, build that day's
    snapshots, and return its total in pennies."""
    from django.core.management import call_command

    from core.timeutils import business_day
    from orders.models import Order

    first = Order.objects.get(pk=history["orders"][0].pk)
    moment = first.paid_at
    try:
        then = moment.replace(year=moment.year - 1)
    except ValueError:  # 29 February: a year earlier is 28 February
        then = moment.replace(year=moment.year - 1, day=28)
    order = _place(first.customer, first.lines.get().variant, 1)
    _pay(order, n=9, moment=then)
    day = business_day(then)
    call_command(
        "build_analytics_snapshots",
        "--from",
        (day - dt.timedelta(days=3)).isoformat(),
        "--to",
        (day + dt.timedelta(days=3)).isoformat(),
        stdout=io.StringIO(),
    )
    return order.total_pennies
