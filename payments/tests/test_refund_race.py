"""An ops refund and Stripe's `refund.created` for it, at the same moment, on
PostgreSQL: one lock order (Order → Payment → Refund) means neither deadlocks nor
doubles the refund, and Stripe is never called under a lock."""

import json
import threading

import pytest

from accounts.tests.factories import UserFactory
from catalog.models import Variant
from catalog.tests.factories import VariantFactory
from orders.models import Order
from orders.tests.factories import place_order
from payments.gateway import OfflineGateway, sign
from payments.gateway.guard import network_call, open_transaction
from payments.models import Refund, RefundRequest, StripeEvent
from payments.services.refunds import refund_issue
from payments.tests.events import envelope, intent_succeeded
from payments.webhook import receive

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ROUNDS = 100


def _deliver(event) -> int:
    body = json.dumps(event, separators=(",", ":")).encode()
    return receive(body=body, signature=sign(body)).status


class RacingStripe(OfflineGateway):
    """Stripe that answers the refund and, at that moment, sends its webhook from
    another connection (`deliver` runs in the racing thread)."""

    def __init__(self, answered: threading.Event, calls: list):
        self.answered, self.calls = answered, calls

    @network_call  # a Stripe call under a lock (or any transaction) fails the test
    def create_refund(self, **kwargs):
        self.calls.append(open_transaction())
        refund = {
            "id": f"re_race_{kwargs['idempotency_key']}",
            "object": "refund",
            "amount": kwargs["amount_pennies"],
            "charge": kwargs["charge"],
            "payment_intent": kwargs["payment_intent"],
            "currency": "gbp",
            "created": 1_780_000_900,
            "status": "pending",
            "reason": kwargs["reason"] or None,
            "metadata": kwargs["metadata"],
        }
        self.answer = refund
        self.answered.set()
        return refund


def test_an_ops_refund_racing_its_webhook_makes_one_refund_and_never_deadlocks(
    monkeypatch, run_concurrently
):
    ops = UserFactory(roles=["ops"])
    outcomes = []
    for round_ in range(ROUNDS):
        variant = VariantFactory(stock=5)
        order = place_order(
            customer=UserFactory(roles=["customer"]), variants={variant: 2}
        )
        pi, charge = f"pi_race_{round_}", f"ch_race_{round_}"
        assert _deliver(intent_succeeded(order, pi=pi, charge=charge)) == 200
        answered, calls = threading.Event(), []
        stripe = RacingStripe(answered, calls)
        monkeypatch.setattr("payments.services.refunds.get_gateway", lambda s=stripe: s)
        key = f"round{round_}"
        line = order.lines.get()

        def work(i, order=order, key=key, line=line, stripe=stripe, answered=answered):
            if i == 0:
                refund = refund_issue(
                    order=Order.objects.get(pk=order.pk),
                    amount_pennies=500,
                    reason="requested_by_customer",
                    restock={line.variant_id: 1},
                    actor=ops,
                    idempotency_key=key,
                )
                return refund.stripe_refund_id
            assert answered.wait(10), "Stripe was never asked"
            event = envelope(
                "refund.created",
                dict(stripe.answer, status="succeeded"),
                created=1_780_000_901,
            )
            return _deliver(event)

        results = run_concurrently(2, work)
        outcomes.append(results)
        refunds = Refund.objects.filter(payment__order=order)
        assert refunds.count() == 1, results
        refund = refunds.get()
        assert refund.status == "succeeded"
        assert refund.idempotency_key == key
        assert refund.requested_by == ops
        assert RefundRequest.objects.get(idempotency_key=key).status == "sent"
        assert calls == [None]
        assert Variant.objects.get(pk=variant.pk).stock_on_hand == 4  # 5 − 2 + 1
        assert Order.objects.get(pk=order.pk).refunded_pennies == 500
    assert all(sorted(map(str, r)) == sorted(["200", f"re_race_round{i}"])
               for i, r in enumerate(outcomes))  # fmt: skip
    assert not StripeEvent.objects.filter(status="failed").exists()
