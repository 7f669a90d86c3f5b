"""The real gateway's settlement reads with the SDK's HTTP layer replaced: what
localstripe cannot do (list a payout's balance transactions, page after page; a
rate limit), answered as Stripe's API answers."""

import json
from urllib.parse import parse_qs, urlparse

import pytest
import stripe

from payments.gateway import StripeGateway
from payments.models import BalanceTransaction, Payout
from payments.services.settlement import payout_difference, payouts_reconciled
from payments.services.settlement_sync import settlement_sync
from payments.tests.events import envelope, post

pytestmark = pytest.mark.django_db
T0 = 1_780_000_000


class StripeAPI(stripe.HTTPClient):
    """Answers (status, body, headers) in turn and keeps each request's URL."""

    name = "scripted"

    def __init__(self, answers):
        super().__init__()
        self.answers = list(answers)
        self.urls = []

    def request(self, method, url, headers, post_data=None, **kwargs):
        self.urls.append(url)
        status, body, extra = self.answers.pop(0)
        return json.dumps(body), status, {"request-id": "req_1", **extra}

    def request_stream(self, *args, **kwargs):
        raise NotImplementedError

    def close(self):
        pass


@pytest.fixture
def stripe_settings(settings):
    settings.PAYMENTS_USE_STRIPE = True
    settings.STRIPE_SECRET_KEY = "sk_test_123"
    return settings


def _bt(n, amount, fee=0, kind="charge", source=None):
    return {
        "id": f"txn_{n}",
        "object": "balance_transaction",
        "amount": amount,
        "fee": fee,
        "net": amount - fee,
        "currency": "gbp",
        "exchange_rate": None,
        "fee_details": [],
        "status": "available",
        "available_on": T0,
        "created": T0 - 86400,
        "source": source or f"ch_{n}",
        "type": kind,
        "reporting_category": kind,
    }


def _paid_payout(client, amount):
    payout = {
        "id": "po_1",
        "object": "payout",
        "amount": amount,
        "currency": "gbp",
        "arrival_date": T0,
        "automatic": True,
        "created": T0 - 3600,
        "status": "paid",
        "method": "standard",
        "balance_transaction": "txn_po",
        "reconciliation_status": "completed",
    }
    assert post(client, envelope("payout.paid", payout, created=T0)).status_code == 200


def test_a_paid_payouts_lines_are_listed_page_by_page_and_reconcile(
    client, stripe_settings
):
    lines = [_bt(1, 5000, 95), _bt(2, 3000, 65), _bt(3, -1000, kind="refund")]
    _paid_payout(client, sum(line["net"] for line in lines))
    own = _bt("po", -6840, kind="payout", source="po_1")
    api = StripeAPI(
        [
            (200, {"object": "list", "data": [own, *lines[:2]], "has_more": True,
                   "url": "/v1/balance_transactions"}, {}),
            (200, {"object": "list", "data": lines[2:], "has_more": False,
                   "url": "/v1/balance_transactions"}, {}),
        ]
    )  # fmt: skip
    counts = settlement_sync(gateway=StripeGateway(http_client=api))
    assert counts["payouts_listed"] == 1 and counts["lines"] == 4
    first, second = (parse_qs(urlparse(u).query) for u in api.urls)
    assert first["payout"] == ["po_1"]
    assert second["starting_after"] == ["txn_2"]
    payout = payouts_reconciled().get(stripe_payout_id="po_1")
    assert payout.lines == 3  # its own balance transaction is not a line
    assert payout_difference(payout) == 0
    assert set(
        BalanceTransaction.objects.filter(payout_stripe_id="po_1").values_list(
            "stripe_id", flat=True
        )
    ) == {"txn_po", "txn_1", "txn_2", "txn_3"}


def test_a_rate_limit_leaves_the_payout_for_the_next_run(client, stripe_settings):
    _paid_payout(client, 4905)
    limited = {"error": {"type": "rate_limit_error", "message": "Too many requests"}}
    api = StripeAPI([(429, limited, {"stripe-should-retry": "false"})])
    counts = settlement_sync(gateway=StripeGateway(http_client=api))
    assert (counts["errors"], counts["payouts_listed"]) == (1, 0)
    assert Payout.objects.get().lines_fetched_at is None
    # Stripe asks the SDK to retry: it does (max_network_retries), then succeeds.
    page = {"object": "list", "data": [_bt(1, 5000, 95)], "has_more": False,
            "url": "/v1/balance_transactions"}  # fmt: skip
    api = StripeAPI([(429, limited, {"stripe-should-retry": "true"}), (200, page, {})])
    counts = settlement_sync(gateway=StripeGateway(http_client=api))
    assert (counts["errors"], counts["payouts_listed"]) == (0, 1)
    assert payout_difference(payouts_reconciled().get()) == 0


def test_a_charge_without_a_balance_transaction_yet_stays_missing(stripe_settings):
    from payments.models import Payment

    Payment.objects.create(
        stripe_payment_intent="pi_9",
        stripe_charge_id="ch_9",
        source=Payment.Source.OTHER,
        amount_pennies=2000,
        currency="GBP",
        paid_at="2026-05-28T00:00:00Z",
    )
    pending_charge = {"id": "ch_9", "object": "charge", "balance_transaction": None}
    api = StripeAPI([(200, pending_charge, {})])
    counts = settlement_sync(gateway=StripeGateway(http_client=api))
    assert (counts["still_missing"], counts["recorded"]) == (1, 0)
    assert "expand[0]=balance_transaction" in api.urls[0].replace("%5B", "[").replace(
        "%5D", "]"
    )
    assert not BalanceTransaction.objects.exists()
