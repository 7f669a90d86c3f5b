"""The real gateway over real HTTP: the official SDK against localstripe (a stateful
Stripe-compatible server) on a loopback port, with localstripe delivering its signed
webhooks to the app's live server.

Payment → fee → refund: the customer's PaymentIntent is made at localstripe as
Stripe Checkout would make it (localstripe has no Checkout Sessions); its signed
`payment_intent.succeeded` reaches the webhook and the ledger records the payment;
the settlement sync asks localstripe for the charge's balance transaction; an ops
refund goes to localstripe through `StripeGateway.create_refund` (without a reason:
localstripe refuses one) and the sync fetches the refund's balance transaction.

What localstripe lacks, and where it is covered instead (SDK HTTP layer mocked,
payments/tests/test_stripe_gateway.py and test_settlement_gateway.py): Checkout
Sessions, refund webhooks, a refund `reason`, fees (localstripe charges none: fee 0,
net = amount), and listing a payout's balance transactions (`?payout=` is refused
with a 400, which the sync records as an error and retries).
"""

import socket
import subprocess
import sys
import time

import pytest
import stripe
from django.forms.models import model_to_dict
from django.urls import reverse

from catalog.tests.factories import VariantFactory
from orders.tests.factories import place_order
from payments.gateway import StripeGateway
from payments.models import (
    BalanceTransaction,
    Payment,
    Payout,
    Refund,
    StripeEvent,
)
from payments.services.backfill import ApiSource, history_backfill
from payments.services.refunds import refund_issue
from payments.services.settlement import fee_totals
from payments.services.settlement_sync import settlement_sync

pytest.importorskip("localstripe")
# PostgreSQL only: the live server's thread applies localstripe's webhooks while the
# test's thread polls the books, and on SQLite's shared in-memory test database the two
# threads share one connection, so a poll during a delivery breaks the server's
# transaction (seen once in `make test`). The PostgreSQL leg is required in CI.
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SECRET = "whsec_localstripe_test"
KEY = "sk_test_localstripe"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def localstripe():
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "localstripe", "--port", str(port), "--from-scratch"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    client = stripe.StripeClient(KEY, base_addresses={"api": base})
    deadline = time.monotonic() + 20
    while True:
        try:
            client.v1.balance.retrieve()
            break
        except stripe.APIConnectionError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                pytest.fail("localstripe did not start")
            time.sleep(0.2)
    yield base
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture
def stripe_live(settings, localstripe, live_server):
    settings.PAYMENTS_USE_STRIPE = True
    settings.STRIPE_SECRET_KEY = KEY
    settings.STRIPE_API_BASE = localstripe
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    settings.STRIPE_WEBHOOK_PROCESSING = "inline"
    import requests

    webhook = live_server.url + reverse("payments:webhook")
    requests.post(  # localstripe's own configuration endpoint
        f"{localstripe}/_config/webhooks/purelaka",
        data={"url": webhook, "secret": SECRET},
        timeout=5,
    ).raise_for_status()
    return stripe.StripeClient(
        KEY,
        base_addresses={"api": localstripe},
        stripe_version=settings.STRIPE_API_VERSION,
    )


def _wait_for(condition, what, seconds=20):
    """Poll until the live server has applied what localstripe sent."""
    deadline = time.monotonic() + seconds
    while True:
        time.sleep(0.3)
        if condition():
            return
        if time.monotonic() > deadline:
            pytest.fail(f"localstripe never delivered {what}")


def _customer_pays(client, order):
    """What the customer does at Stripe: a card PaymentIntent for the order."""
    card = client.v1.payment_methods.create(
        params={
            "type": "card",
            "card": {
                "number": "4242424242424242",
                "exp_month": 12,
                "exp_year": 2040,
                "cvc": "123",
            },
        }
    )
    return client.v1.payment_intents.create(
        params={
            "amount": order.total_pennies,
            "currency": order.currency.lower(),
            "payment_method": card.id,
            "confirm": True,
            "metadata": {"order_id": str(order.pk)},
        }
    )


def test_payment_fee_and_refund_through_the_sdk_and_signed_webhooks(
    stripe_live, customer, ops_user
):
    order = place_order(customer=customer, variants={VariantFactory(stock=5): 2})
    intent = _customer_pays(stripe_live, order)
    _wait_for(
        lambda: Payment.objects.filter(stripe_payment_intent=intent.id).exists(),
        "payment_intent.succeeded",
    )
    order.refresh_from_db()
    assert order.status == "paid"
    payment = Payment.objects.get(stripe_payment_intent=intent.id)
    assert payment.amount_pennies == order.total_pennies

    gateway = StripeGateway()
    counts = settlement_sync(gateway=gateway)
    assert counts["recorded"] == 1 and counts["errors"] == 0
    charge_bt = BalanceTransaction.objects.get(charge_id=payment.stripe_charge_id)
    assert charge_bt.stripe_id.startswith("txn_")
    assert (charge_bt.type, charge_bt.amount_pennies) == ("charge", order.total_pennies)
    assert charge_bt.net_pennies == charge_bt.amount_pennies - charge_bt.fee_pennies

    refund_issue(
        order=order,
        amount_pennies=1000,
        reason="",  # localstripe refuses a reason
        restock={},
        actor=ops_user,
        idempotency_key="localstripe-refund-1",
    )
    refund = Refund.objects.get(payment=payment)
    assert (refund.status, refund.amount_pennies) == ("succeeded", 1000)
    assert settlement_sync(gateway=gateway)["recorded"] == 1
    refund_bt = BalanceTransaction.objects.get(source_id=refund.stripe_refund_id)
    assert (refund_bt.type, refund_bt.amount_pennies) == ("refund", -1000)
    assert refund_bt.charge_id == payment.stripe_charge_id
    assert fee_totals(BalanceTransaction.objects.all())["stripe_fees"] == (
        charge_bt.fee_pennies
    )
    # Nothing is missing any more: a third run asks Stripe nothing.
    assert settlement_sync(gateway=gateway)["recorded"] == 0


def test_a_payout_arrives_by_signed_webhook_and_an_unlistable_one_waits(
    stripe_live,
):
    payout = stripe_live.v1.payouts.create(
        params={"amount": 1200, "currency": "eur", "status": "paid"}
    )
    _wait_for(
        lambda: Payout.objects.filter(
            stripe_payout_id=payout.id, status="paid"
        ).exists(),
        "payout.paid",
    )
    recorded = Payout.objects.get(stripe_payout_id=payout.id)
    assert (recorded.amount_pennies, recorded.currency) == (1200, "EUR")
    counts = settlement_sync(gateway=StripeGateway())
    # localstripe cannot list a payout's balance transactions: refused, kept.
    assert counts["errors"] == 1 and counts["payouts_listed"] == 0
    recorded.refresh_from_db()
    assert recorded.lines_fetched_at is None


def _ledger_rows(intents):
    """These PaymentIntents' payments (every column but ids), their refunds and
    their balance transactions (localstripe keeps other tests' objects too)."""
    mine = Payment.objects.filter(stripe_payment_intent__in=intents)
    payments = [
        model_to_dict(p, exclude=["id", "customer", "order"])
        | {"order": p.order_id, "customer": p.customer_id}
        for p in mine
    ]
    refunds = Refund.objects.filter(stripe_payment_intent__in=intents)
    charges = [p["stripe_charge_id"] for p in payments]
    return (
        sorted(payments, key=lambda row: row["stripe_payment_intent"]),
        sorted(
            refunds.values_list(
                "stripe_refund_id", "amount_pennies", "status", "stripe_created"
            )
        ),
        sorted(
            BalanceTransaction.objects.filter(charge_id__in=charges).values_list(
                "stripe_id", "type", "amount_pennies", "net_pennies", "charge_id"
            )
        ),
    )


def test_a_backfill_from_the_api_gives_the_books_its_webhooks_gave(
    stripe_live, customer, ops_user
):
    """The history backfill lists what localstripe holds (it has no prices or
    disputes lists: those are named and skipped). Over the books its signed
    webhooks and the settlement sync made it changes nothing; payments made
    outside the shop whose rows are gone come back as they were."""
    order = place_order(customer=customer, variants={VariantFactory(stock=5): 2})
    intents = [_customer_pays(stripe_live, order)]
    card = intents[0].payment_method
    intents += [  # outside the shop: a Payment Link, an invoice elsewhere
        stripe_live.v1.payment_intents.create(
            params={"amount": amount, "currency": "gbp", "payment_method": card}
            | {"confirm": True}
        )
        for amount in (1200, 3400)
    ]
    ids = [i.id for i in intents]
    _wait_for(
        lambda: Payment.objects.filter(stripe_payment_intent__in=ids).count() == 3,
        "three payment_intent.succeeded",
    )
    refund_issue(
        order=order,
        amount_pennies=700,
        reason="",
        restock={},
        actor=ops_user,
        idempotency_key="localstripe-backfill-1",
    )
    settlement_sync(gateway=StripeGateway())
    live = _ledger_rows(ids)
    assert [len(rows) for rows in live] == [3, 1, 4]

    summary = history_backfill(ApiSource(StripeGateway()), actor_label="test")
    assert summary.finished and summary.objects["payment_intents"] >= 3
    assert any("prices: this server has no such list" in i for i in summary.invalid)
    assert _ledger_rows(ids) == live

    outside = Payment.objects.filter(stripe_payment_intent__in=ids[1:])
    charges = list(outside.values_list("stripe_charge_id", flat=True))
    BalanceTransaction.objects.filter(charge_id__in=charges).delete()
    StripeEvent.objects.filter(payload__data__object__id__in=ids[1:] + charges).delete()
    outside.delete()
    again = history_backfill(ApiSource(StripeGateway()), actor_label="test")
    assert again.events.totals["new"] >= 2
    assert _ledger_rows(ids) == live
    order.refresh_from_db()
    assert order.refunded_pennies == 700
