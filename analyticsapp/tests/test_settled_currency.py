"""Money in another currency counts at what Stripe settled it for (definitions 1.2):
a USD payment, its refund and its dispute are revenue, refunds and dispute losses at
their balance transactions' amounts in the store currency once Stripe has made
them, and nothing before; the snapshot, the ledger check and the reconciliation
agree by the one rule (`payments.services.settlement`)."""

import datetime as dt

import pytest
import time_machine

from analyticsapp.models import DailySnapshot
from analyticsapp.reconciliation import days_reconciled
from analyticsapp.services.snapshots import snapshots_build
from monitoring.checks import snapshot_ledger_mismatch
from payments.tests.events import envelope, post

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 3, 3)  # London on GMT: the business day is the UTC day
NOON = int(dt.datetime(2026, 3, 3, 12, tzinfo=dt.UTC).timestamp())
USD_PAID, GBP_SETTLED, FEE = 1000, 790, 43  # USD 10.00 at 0.79


def _bt(txn, *, amount, fee=0, category, source, created=NOON):
    return {
        "id": txn,
        "object": "balance_transaction",
        "amount": amount,
        "fee": fee,
        "net": amount - fee,
        "currency": "gbp",
        "exchange_rate": 0.79,
        "fee_details": [],
        "status": "pending",
        "available_on": created + 2 * 86400,
        "created": created,
        "source": source,
        "type": category,
        "reporting_category": category,
    }


def _charge(*, expanded: bool):
    return {
        "id": "ch_usd",
        "object": "charge",
        "amount": USD_PAID,
        "amount_captured": USD_PAID,
        "captured": True,
        "currency": "usd",
        "payment_intent": "pi_usd",
        "created": NOON,
        "status": "succeeded",
        "metadata": {},
        "balance_transaction": (
            _bt(
                "txn_usd_charge",
                amount=GBP_SETTLED,
                fee=FEE,
                category="charge",
                source="ch_usd",
            )
            if expanded
            else "txn_usd_charge"
        ),
    }


@pytest.fixture
def usd_paid(client):
    """A USD payment from outside the shop; Stripe's event names its charge only."""
    response = post(
        client,
        envelope(
            "payment_intent.succeeded",
            {
                "id": "pi_usd",
                "object": "payment_intent",
                "amount": USD_PAID,
                "amount_received": USD_PAID,
                "currency": "usd",
                "status": "succeeded",
                "latest_charge": "ch_usd",
                "metadata": {},
            },
            created=NOON,
        ),
    )
    assert response.status_code == 200


def _snapshot():
    snapshots_build(date_from=DAY, date_to=DAY, triggered_by="test")
    return DailySnapshot.objects.get(day=DAY)


def _ledger_findings():
    with time_machine.travel(dt.datetime(2026, 3, 5, 9, tzinfo=dt.UTC)):
        return snapshot_ledger_mismatch()


def _settle(client):
    event = envelope("charge.succeeded", _charge(expanded=True), created=NOON)
    assert post(client, event).status_code == 200


def test_a_payment_in_another_currency_counts_nothing_until_it_is_settled(
    client, usd_paid
):
    snap = _snapshot()
    assert (snap.gross_revenue_pennies, snap.other_revenue_pennies) == (0, 0)
    [day] = days_reconciled(DAY, DAY)
    assert day["ledger_gross_pennies"] == day["stripe_gross_pennies"] == 0
    assert day["status"] == "explained"
    [(column, pennies, sentence)] = day["reasons"]
    assert (column, pennies) == ("gross", 0)
    assert sentence.startswith("$10.00 of payments in another currency")
    assert "await Stripe's settlement in GBP" in sentence


def test_once_settled_it_is_revenue_at_the_settled_amount_and_every_view_agrees(
    client, usd_paid
):
    _settle(client)
    snap = _snapshot()
    assert snap.other_revenue_pennies == snap.gross_revenue_pennies == GBP_SETTLED
    assert snap.stripe_fees_pennies == FEE
    assert snap.net_revenue_after_fees_pennies == GBP_SETTLED - FEE
    [day] = days_reconciled(DAY, DAY)
    assert day["ledger_gross_pennies"] == day["stripe_gross_pennies"] == GBP_SETTLED
    assert day["snapshot_gross_pennies"] == GBP_SETTLED
    assert (day["status"], day["reasons"]) == ("agrees", [])


def test_the_ledger_check_counts_by_the_same_rule(client, usd_paid):
    _snapshot()  # built before Stripe settled the payment: 0
    _settle(client)
    [finding] = _ledger_findings()
    assert finding.evidence["snapshot_vs_ledger"] == {
        "gross_revenue_pennies": [0, GBP_SETTLED],
        "stripe_fees_pennies": [0, FEE],
    }
    _snapshot()
    assert _ledger_findings() == []


def test_its_refund_and_dispute_count_at_their_settled_amounts(client, usd_paid):
    _settle(client)
    later = NOON + 3600
    refund = {
        "id": "re_usd",
        "object": "refund",
        "amount": 500,
        "charge": "ch_usd",
        "payment_intent": "pi_usd",
        "currency": "usd",
        "status": "succeeded",
        "created": later,
        "reason": "requested_by_customer",
        "balance_transaction": _bt(
            "txn_usd_refund", amount=-396, category="refund", source="re_usd",
            created=later,
        ),
    }  # fmt: skip
    assert (
        post(client, envelope("refund.created", refund, created=later)).status_code
        == 200
    )
    dispute = {
        "id": "dp_usd",
        "object": "dispute",
        "amount": 500,
        "charge": "ch_usd",
        "currency": "usd",
        "status": "needs_response",
        "reason": "fraudulent",
        "created": later + 60,
        "balance_transactions": [
            _bt(
                "txn_usd_dispute", amount=-394, fee=1500, category="dispute",
                source="dp_usd", created=later + 60,
            )
        ],
    }  # fmt: skip
    event = envelope("charge.dispute.funds_withdrawn", dispute, created=later + 60)
    assert post(client, event).status_code == 200
    snap = _snapshot()
    assert snap.refunds_pennies == 396
    assert snap.dispute_losses_pennies == 394
    assert snap.dispute_fees_pennies == 1500
    assert snap.net_revenue_pennies == GBP_SETTLED - 396 - 394
    assert snap.net_revenue_after_fees_pennies == GBP_SETTLED - 396 - 394 - FEE - 1500
    [day] = days_reconciled(DAY, DAY)
    assert day["ledger_refunds_pennies"] == day["stripe_refunds_pennies"] == 396
    assert day["status"] == "agrees"
    assert _ledger_findings() == []
