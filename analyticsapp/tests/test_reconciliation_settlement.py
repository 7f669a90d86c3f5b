"""The reconciliation a finance team signs off (issue 15), driven through the offline
Stripe pipeline over a few business days: payouts against their lines, the drill-down
from a payout to its orders, the per-day table and its reasons, and the CSV exports.

Every expected amount is computed here from the orders and the card pricing
(UK cards 1.5 % + 20p, rounded half up; £15 per dispute), never read back from
what the product printed."""

import csv
import datetime as dt
import io
import re

import pytest
import time_machine
from django.urls import reverse

from analyticsapp.services.snapshots import snapshots_build
from catalog.tests.factories import VariantFactory
from orders.tests.factories import place_order
from payments.gateway import OfflineGateway
from payments.models import BalanceTransaction, Payment, Payout, Refund
from payments.services.refunds import refund_issue
from payments.tests.offline_books import charge_bt, pay_order, settle, uk_fee

pytestmark = pytest.mark.django_db

UTC = dt.UTC
# A Monday in March 2026: London is on GMT, so business days are UTC days.
DAY0 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
DAYS = [DAY0.date() + dt.timedelta(days=n) for n in range(5)]
REFUND_PENNIES = 500
DISPUTE_PENNIES = 1000
DISPUTE_FEE_PENNIES = 1500


def _at(n, hour=10):
    return DAY0.replace(hour=hour) + dt.timedelta(days=n)


def pounds(pennies: int) -> str:
    sign = "-" if pennies < 0 else ""
    return f"{sign}£{abs(pennies) / 100:,.2f}"


def _build_snapshots():
    snapshots_build(date_from=DAYS[0], date_to=DAYS[-1], triggered_by="test")


@pytest.fixture
def history(run, customer, ops_user):
    """Day 0: orders A (1 unit) and B (2 units) paid. Day 1: order C (3 units) paid,
    £5 of A refunded, £10 of B disputed and lost. Payouts run each morning of days
    2-5 (01:00 UTC); snapshots built for days 0-4."""
    with time_machine.travel(_at(0), tick=False):
        a = pay_order(run, customer, quantity=1)
        b = pay_order(run, customer, quantity=2)
    with time_machine.travel(_at(1), tick=False):
        c = pay_order(run, customer, quantity=3)
        run(
            refund_issue,
            order=a,
            amount_pennies=REFUND_PENNIES,
            reason="",
            restock={},
            actor=ops_user,
            idempotency_key="recon-refund-a",
        )
        run(
            OfflineGateway().open_dispute,
            charge=Payment.objects.get(order=b).stripe_charge_id,
            amount_pennies=DISPUTE_PENNIES,
            currency="gbp",
            outcome="lost",
        )
    for n in (2, 3, 4, 5):
        settle(run, _at(n, 1))
    _build_snapshots()
    return {"a": a, "b": b, "c": c, "ops": ops_user}


def _net(order):
    return order.total_pennies - uk_fee(order.total_pennies)


def _expected_payouts(h):
    """Day 2's payout: A and B (available at 00:00 two days after); day 3's: C, less
    the refund and the dispute (amount and fee), made on day 1."""
    return {
        DAYS[2]: _net(h["a"]) + _net(h["b"]),
        DAYS[3]: _net(h["c"]) - REFUND_PENNIES - DISPUTE_PENNIES - DISPUTE_FEE_PENNIES,
    }


def _range():
    return {"date_from": DAYS[0].isoformat(), "date_to": DAYS[-1].isoformat()}


def _page(client, user, name="analyticsapp:reconciliation", args=(), **params):
    client.force_login(user)
    return client.get(reverse(name, args=args), params)


def _rows(html: str) -> list[str]:
    """The text of each table body row, tags stripped, whitespace collapsed."""
    body = "".join(re.findall(r"<tbody>(.*?)</tbody>", html, flags=re.S))
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body, flags=re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", r).split()) for r in rows]


def _day_row(html: str, day: dt.date) -> str:
    [row] = [r for r in _rows(html) if r.startswith(day.isoformat())]
    return row


def _csv(client, user, name, **params):
    client.force_login(user)
    response = client.get(reverse("analyticsapp:export_download", args=[name]), params)
    assert response.status_code == 200
    data = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.DictReader(io.StringIO(data)))


# -- who may see it -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "status"),
    [("analyst", 200), ("admin", 200), ("customer", 403), ("ops", 403)],
)
def test_the_reconciliation_pages_are_for_analysts_and_admins(
    client, make_user, role, status
):
    user = make_user(role)
    order = place_order(
        customer=make_user("customer"), variants={VariantFactory(stock=2): 1}
    )
    payout = Payout.objects.create(
        stripe_payout_id="po_test_access",
        amount_pennies=100,
        currency="GBP",
        status="paid",
        stripe_created=DAY0,
        status_at=DAY0,
    )
    for name, args in [
        ("analyticsapp:reconciliation", ()),
        ("analyticsapp:reconciliation_payout", (payout.stripe_payout_id,)),
        ("analyticsapp:reconciliation_order", (order.number,)),
    ]:
        assert _page(client, user, name, args).status_code == status, name


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get(reverse("analyticsapp:reconciliation"))
    assert response.status_code == 302
    assert reverse("accounts:login") in response["Location"]


# -- payouts and the drill-down -------------------------------------------------------


def test_each_payout_adds_up_to_the_penny_and_links_to_its_page(
    client, analyst, history
):
    expected = _expected_payouts(history)
    response = _page(client, analyst, **_range())
    assert response.status_code == 200
    payouts = response.context["payouts"]
    assert {p.stripe_created.date(): p.amount_pennies for p in payouts} == expected
    html = response.content.decode()
    rows = _rows(html)
    for p in payouts:
        assert p.status == "paid"
        assert p.difference == 0
        assert p.lines_net_pennies == expected[p.stripe_created.date()]
        href = reverse("analyticsapp:reconciliation_payout", args=[p.stripe_payout_id])
        assert f'href="{href}"' in html
        [row] = [r for r in rows if r.startswith(p.stripe_payout_id)]
        amount = pounds(expected[p.stripe_created.date()])
        # Amount, net of its lines (the same), difference nil.
        assert row.endswith(f"{amount} {p.lines} {amount} £0.00"), row
    assert "every listed payout adds up" in html


def test_a_payout_page_lists_its_balance_transactions_linked_to_their_orders(
    client, analyst, history
):
    a, b, c = history["a"], history["b"], history["c"]
    payout = Payout.objects.get(stripe_created__date=DAYS[2])
    response = _page(
        client,
        analyst,
        "analyticsapp:reconciliation_payout",
        (payout.stripe_payout_id,),
    )
    assert response.status_code == 200
    lines = response.context["lines"]
    assert {bt.stripe_id for bt in lines} == {
        charge_bt(a).stripe_id,
        charge_bt(b).stripe_id,
    }
    assert {bt.order_number for bt in lines} == {a.number, b.number}
    html = response.content.decode()
    for order in (a, b):
        href = reverse("analyticsapp:reconciliation_order", args=[order.number])
        assert f'href="{href}"' in html
        row = next(r for r in _rows(html) if r.startswith(charge_bt(order).stripe_id))
        total, fee = order.total_pennies, uk_fee(order.total_pennies)
        assert f"{pounds(total)} {pounds(fee)} {pounds(total - fee)}" in row
    assert c.number not in html  # C was paid out the next day
    assert "reconciled to the penny" in html


def test_the_second_payout_shows_the_refund_and_dispute_behind_it(
    client, analyst, history
):
    payout = Payout.objects.get(stripe_created__date=DAYS[3])
    response = _page(
        client,
        analyst,
        "analyticsapp:reconciliation_payout",
        (payout.stripe_payout_id,),
    )
    lines = {bt.reporting_category: bt for bt in response.context["lines"]}
    assert set(lines) == {"charge", "refund", "dispute"}
    assert lines["charge"].order_number == history["c"].number
    assert lines["refund"].refund_id == Refund.objects.get().stripe_refund_id
    assert lines["refund"].net_pennies == -REFUND_PENNIES
    assert lines["dispute"].net_pennies == -DISPUTE_PENNIES - DISPUTE_FEE_PENNIES
    assert lines["dispute"].dispute_id.startswith("dp_")
    # Refund and dispute reach their orders through the charge.
    assert lines["refund"].order_number == history["a"].number
    assert lines["dispute"].order_number == history["b"].number


def test_the_order_page_shows_the_order_lines_and_its_money_at_stripe(
    client, analyst, history
):
    b = history["b"]
    response = _page(client, analyst, "analyticsapp:reconciliation_order", (b.number,))
    assert response.status_code == 200
    html = response.content.decode()
    order_lines = list(b.lines.all())
    assert order_lines
    for line in order_lines:
        row = next(r for r in _rows(html) if r.startswith(line.product_name))
        assert f" {line.quantity} " in f" {row} "
        assert pounds(line.line_total_pennies) in row
    payout = Payout.objects.get(stripe_created__date=DAYS[2])
    href = reverse("analyticsapp:reconciliation_payout", args=[payout.stripe_payout_id])
    assert f'href="{href}"' in html  # the charge, paid out on day 2
    categories = {
        bt.reporting_category for bt in response.context["balance_transactions"]
    }
    assert categories == {"charge", "dispute"}


@pytest.mark.parametrize(
    ("name", "arg", "message"),
    [
        ("analyticsapp:reconciliation_payout", "po_nothing_like_it", "No such payout."),
        ("analyticsapp:reconciliation_order", "PL-NOPE-0000", "No such order."),
    ],
)
def test_an_unknown_payout_or_order_is_not_found_with_a_message(
    client, analyst, name, arg, message
):
    response = _page(client, analyst, name, (arg,))
    assert response.status_code == 404
    assert message in str(response.context["exception"])
    assert "We couldn't find that page" in response.content.decode()


# -- by business day ---------------------------------------------------------------


def test_days_where_stripe_ledger_and_snapshot_agree_say_agrees(
    client, analyst, history
):
    a, b, c = history["a"], history["b"], history["c"]
    response = _page(client, analyst, **_range())
    days = {d["day"]: d for d in response.context["days"]}
    day0, day1 = days[DAYS[0]], days[DAYS[1]]
    gross0 = a.total_pennies + b.total_pennies
    assert (
        day0["stripe_gross_pennies"],
        day0["ledger_gross_pennies"],
        day0["snapshot_gross_pennies"],
    ) == (gross0, gross0, gross0)
    assert day0["stripe_fees_pennies"] == uk_fee(a.total_pennies) + uk_fee(
        b.total_pennies
    )
    assert (day0["status"], day0["reasons"]) == ("agrees", [])
    # Day 1: C, the refund (in all three) and the dispute's fee among the fees.
    assert day1["stripe_gross_pennies"] == c.total_pennies
    assert day1["stripe_refunds_pennies"] == REFUND_PENNIES
    assert day1["ledger_refunds_pennies"] == REFUND_PENNIES
    assert day1["snapshot_refunds_pennies"] == REFUND_PENNIES
    assert day1["stripe_fees_pennies"] == uk_fee(c.total_pennies) + DISPUTE_FEE_PENNIES
    assert day1["snapshot_fees_pennies"] == day1["stripe_fees_pennies"]
    assert day1["status"] == "agrees"
    # Everything of days 0-1 is paid out.
    net0 = _net(a) + _net(b)
    assert (day0["net_pennies"], day0["paid_out_pennies"]) == (net0, net0)
    assert day0["not_paid_out_pennies"] == day0["in_transit_pennies"] == 0
    html = response.content.decode()
    assert _day_row(html, DAYS[0]).endswith("agrees")
    assert "every difference has its reason" in html


def test_a_payment_without_its_balance_transaction_makes_an_explained_day(
    client, analyst, history
):
    c = history["c"]
    charge_bt(c).delete()  # as if Stripe had not made it yet
    _build_snapshots()
    response = _page(client, analyst, **_range())
    day1 = {d["day"]: d for d in response.context["days"]}[DAYS[1]]
    assert day1["stripe_gross_pennies"] == 0
    assert day1["ledger_gross_pennies"] == c.total_pennies
    assert day1["status"] == "explained"
    assert [(r[0], r[1]) for r in day1["reasons"]] == [("gross", -c.total_pennies)]
    row = _day_row(response.content.decode(), DAYS[1])
    assert (
        f"explained {pounds(c.total_pennies)} of payments have no balance "
        "transaction yet" in row
    )
    # The other days are untouched, and the payout that paid C out no longer adds up.
    assert {d["day"]: d["status"] for d in response.context["days"]}[
        DAYS[0]
    ] == "agrees"
    assert "1 do not add up" in response.content.decode()


def test_a_refund_that_failed_later_makes_explained_days(client, analyst, history, run):
    refund = Refund.objects.get()
    with time_machine.travel(_at(2, 12), tick=False):
        run(
            OfflineGateway().fail_refund,
            refund=refund,
        )
    refund.refresh_from_db()
    assert refund.status == "failed"
    _build_snapshots()
    response = _page(client, analyst, **_range())
    days = {d["day"]: d for d in response.context["days"]}
    refunded, failed = days[DAYS[1]], days[DAYS[2]]
    # Stripe shows the refund on day 1 and its reversal on day 2; the ledger neither.
    assert refunded["stripe_refunds_pennies"] == REFUND_PENNIES
    assert refunded["ledger_refunds_pennies"] == 0
    assert failed["stripe_refunds_pennies"] == -REFUND_PENNIES
    assert failed["ledger_refunds_pennies"] == 0
    assert [(r[0], r[1]) for r in refunded["reasons"]] == [("refunds", REFUND_PENNIES)]
    assert [(r[0], r[1]) for r in failed["reasons"]] == [("refunds", -REFUND_PENNIES)]
    assert refunded["status"] == failed["status"] == "explained"
    html = response.content.decode()
    for day in DAYS[1:3]:
        assert "explained a refund that failed later" in _day_row(html, day)


# -- the CSV exports ---------------------------------------------------------------


def test_the_payouts_export_carries_each_payout_reconciled(client, analyst, history):
    expected = _expected_payouts(history)
    rows = _csv(client, analyst, "payouts", **_range())
    assert len(rows) == len(expected) == Payout.objects.count()
    for row in rows:
        day = dt.date.fromisoformat(row["created_at"][:10])
        assert int(row["amount_pennies"]) == expected[day]
        assert int(row["lines_net_pennies"]) == int(row["amount_pennies"])
        assert int(row["difference_pennies"]) == 0
        assert (row["status"], row["currency"]) == ("paid", "GBP")
        lines = BalanceTransaction.objects.filter(
            payout_stripe_id=row["payout_id"]
        ).exclude(source_id=row["payout_id"])
        assert int(row["lines"]) == lines.count()


def test_the_balance_transactions_export_names_the_order_of_each_line(
    client, analyst, history
):
    rows = _csv(client, analyst, "balance_transactions", **_range())
    by_id = {r["balance_transaction_id"]: r for r in rows}
    payouts = {
        p.stripe_created.date(): p.stripe_payout_id for p in Payout.objects.all()
    }
    for order, paid_out_on in [
        (history["a"], DAYS[2]),
        (history["b"], DAYS[2]),
        (history["c"], DAYS[3]),
    ]:
        row = by_id[charge_bt(order).stripe_id]
        total = order.total_pennies
        assert row["order_number"] == order.number
        assert (row["type"], row["reporting_category"], row["currency"]) == (
            "charge",
            "charge",
            "GBP",
        )
        assert int(row["amount_pennies"]) == total
        assert int(row["fee_pennies"]) == uk_fee(total)
        assert int(row["net_pennies"]) == total - uk_fee(total)
        assert row["payout_id"] == payouts[paid_out_on]
        assert (
            row["payment_intent"]
            == Payment.objects.get(order=order).stripe_payment_intent
        )
    refund = next(r for r in rows if r["reporting_category"] == "refund")
    assert refund["refund_id"] == Refund.objects.get().stripe_refund_id
    assert refund["order_number"] == history["a"].number
    dispute = next(r for r in rows if r["reporting_category"] == "dispute")
    assert int(dispute["fee_pennies"]) == DISPUTE_FEE_PENNIES
    assert dispute["dispute_id"].startswith("dp_")


def test_the_reconciliation_export_has_a_row_per_day(client, analyst, history):
    rows = _csv(client, analyst, "reconciliation", **_range())
    assert [r["day"] for r in rows] == [d.isoformat() for d in DAYS]
    day0 = rows[0]
    gross0 = history["a"].total_pennies + history["b"].total_pennies
    assert int(day0["stripe_gross_pennies"]) == gross0
    assert int(day0["ledger_gross_pennies"]) == gross0
    assert int(day0["snapshot_gross_pennies"]) == gross0
    assert (day0["status"], day0["reasons"]) == ("agrees", "")
    assert {r["status"] for r in rows} == {"agrees"}


def test_daily_kpis_carry_fees_and_net_revenue_after_fees(client, analyst, history):
    a, b, c = history["a"], history["b"], history["c"]
    rows = {r["day"]: r for r in _csv(client, analyst, "daily_kpis", **_range())}
    assert set(rows) == {d.isoformat() for d in DAYS}
    fees = {
        DAYS[0]: (uk_fee(a.total_pennies) + uk_fee(b.total_pennies), 0),
        DAYS[1]: (uk_fee(c.total_pennies), DISPUTE_FEE_PENNIES),
    }
    for day in DAYS:
        row = rows[day.isoformat()]
        stripe_fees, dispute_fees = fees.get(day, (0, 0))
        assert int(row["stripe_fees_pennies"]) == stripe_fees, day
        assert int(row["dispute_fees_pennies"]) == dispute_fees, day
        gross, refunds, losses = (
            int(row[k])
            for k in (
                "gross_revenue_pennies",
                "refunds_pennies",
                "dispute_losses_pennies",
            )
        )
        assert int(row["net_revenue_after_fees_pennies"]) == (
            gross - refunds - losses - stripe_fees - dispute_fees
        ), day
    day1 = rows[DAYS[1].isoformat()]
    assert int(day1["gross_revenue_pennies"]) == c.total_pennies
    assert int(day1["refunds_pennies"]) == REFUND_PENNIES
    assert int(day1["dispute_losses_pennies"]) == DISPUTE_PENNIES
