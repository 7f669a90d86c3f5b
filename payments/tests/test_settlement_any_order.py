"""Every ordering of a charge's, a refund's and a payout's events (created, paid,
then failed), with duplicates, posted to the webhook, ends in the same balance
transactions and the same payout: status, failure, amounts and links.

Each ordering has its own Stripe ids (suffix `_k`); the rows are compared with the
suffix taken out. The charge and refund arrive for a payment the ledger does not
know, so they wait (pending) — their balance transactions are Stripe's facts and are
recorded all the same.
"""

import itertools
import re

import pytest

from payments.models import BalanceTransaction, Payout, StripeEvent
from payments.tests.events import envelope, post

pytestmark = pytest.mark.django_db

T0 = 1_780_000_000


def _bt(bt_id, source, kind, amount, fee=0, created=T0):
    return {
        "id": bt_id,
        "object": "balance_transaction",
        "amount": amount,
        "fee": fee,
        "net": amount - fee,
        "currency": "gbp",
        "exchange_rate": None,
        "fee_details": [],
        "status": "pending",
        "available_on": created + 2 * 86400,
        "created": created,
        "source": source,
        "type": kind,
        "reporting_category": kind,
    }


def _events(k):
    charge, refund, po = f"ch_s_{k}", f"re_s_{k}", f"po_s_{k}"
    payout = {
        "id": po,
        "object": "payout",
        "amount": 4000,
        "currency": "gbp",
        "arrival_date": T0 + 86400,
        "automatic": True,
        "created": T0,
        "method": "standard",
        "status": "pending",
        "balance_transaction": _bt(f"txn_po_{k}", po, "payout", -4000),
        "reconciliation_status": "in_progress",
    }
    failed = dict(
        payout,
        status="failed",
        failure_code="account_closed",
        failure_balance_transaction=_bt(
            f"txn_pf_{k}", po, "payout_failure", 4000, created=T0 + 3 * 86400
        ),
    )
    return [
        envelope(
            "charge.succeeded",
            {
                "id": charge,
                "object": "charge",
                "amount": 5000,
                "currency": "gbp",
                "captured": True,
                "payment_intent": f"pi_s_{k}",
                "created": T0,
                "balance_transaction": _bt(f"txn_ch_{k}", charge, "charge", 5000, 95),
            },
            event_id=f"evt_ch_{k}",
        ),
        envelope(
            "refund.created",
            {
                "id": refund,
                "object": "refund",
                "amount": 1000,
                "currency": "gbp",
                "charge": charge,
                "status": "succeeded",
                "created": T0 + 60,
                "balance_transaction": _bt(
                    f"txn_re_{k}", refund, "refund", -1000, created=T0 + 60
                ),
            },
            created=T0 + 60,
            event_id=f"evt_re_{k}",
        ),
        envelope("payout.created", payout, created=T0, event_id=f"evt_pc_{k}"),
        envelope(
            "payout.paid",
            dict(payout, status="paid", reconciliation_status="completed"),
            created=T0 + 86400,
            event_id=f"evt_pp_{k}",
        ),
        envelope(
            "payout.failed", failed, created=T0 + 3 * 86400, event_id=f"evt_pf_{k}"
        ),
    ]


def _books(k):
    strip = re.compile(rf"_{k}$")

    def clean(value):
        return strip.sub("", value) if isinstance(value, str) else value

    bts = sorted(
        tuple(clean(v) for v in row)
        for row in BalanceTransaction.objects.filter(
            stripe_id__endswith=f"_{k}"
        ).values_list(
            "stripe_id",
            "type",
            "amount_pennies",
            "fee_pennies",
            "net_pennies",
            "status",
            "source_id",
            "charge_id",
            "payout_stripe_id",
            "available_on",
        )
    )
    payout = Payout.objects.get(stripe_payout_id=f"po_s_{k}")
    return bts, (
        payout.status,
        payout.amount_pennies,
        payout.failure_code,
        payout.reconciliation_status,
        payout.status_at,
        clean(payout.stripe_balance_transaction_id),
    )


def test_every_arrival_order_with_duplicates_ends_in_the_same_settlement_books(
    client,
):
    outcomes = set()
    orders = list(itertools.permutations(range(5)))
    for k, order in enumerate(orders):
        events = _events(k)
        for i in (*order, order[0], order[-1]):  # two duplicates
            assert post(client, events[i]).status_code == 200
        outcomes.add(repr(_books(k)))
    assert len(outcomes) == 1
    bts, payout = _books(0)
    assert payout[:4] == ("failed", 4000, "account_closed", "completed")
    assert sorted(row[1] for row in bts) == [
        "charge",
        "payout",
        "payout_failure",
        "refund",
    ]
    assert StripeEvent.objects.filter(status="failed").count() == 0
