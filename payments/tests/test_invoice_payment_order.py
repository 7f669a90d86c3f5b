"""An invoice's payment is dated by the invoice's `status_transitions.paid_at`,
whichever of its three events (the PaymentIntent, `invoice.paid`,
`invoice_payment.paid`) arrives first — the day it lands on depends on it."""

import datetime as dt
import itertools
import json

import pytest

from core.timeutils import business_day
from payments.gateway import sign
from payments.models import Payment, StripeEvent
from payments.tests.events import envelope
from payments.webhook import receive

pytestmark = pytest.mark.django_db
# 22:59:59 UTC on 30 June 2026 is 23:59:59 in London; the invoice says one second on.
INTENT_AT = 1_782_863_999
PAID_AT = INTENT_AT + 1


def _events(k):
    invoice, intent = f"in_{k}", f"pi_{k}"
    return [
        envelope(
            "payment_intent.succeeded",
            {
                "id": intent,
                "object": "payment_intent",
                "amount": 999,
                "amount_received": 999,
                "currency": "gbp",
                "status": "succeeded",
                "latest_charge": f"ch_{k}",
                "metadata": {},
            },
            created=INTENT_AT,
            event_id=f"evt_pi_{k}",
        ),
        envelope(
            "invoice.paid",
            {
                "id": invoice,
                "object": "invoice",
                "customer": "cus_1",
                "currency": "gbp",
                "amount_paid": 999,
                "status": "paid",
                "status_transitions": {"paid_at": PAID_AT},
                "parent": {
                    "type": "subscription_details",
                    "subscription_details": {"subscription": "sub_1"},
                },
            },
            created=PAID_AT + 5,
            event_id=f"evt_in_{k}",
        ),
        envelope(
            "invoice_payment.paid",
            {
                "id": f"inpay_{k}",
                "object": "invoice_payment",
                "invoice": invoice,
                "payment": {"type": "payment_intent", "payment_intent": intent},
                "status": "paid",
            },
            created=PAID_AT + 6,
            event_id=f"evt_inpay_{k}",
        ),
    ]


def _deliver(event):
    body = json.dumps(event, separators=(",", ":")).encode()
    assert receive(body=body, signature=sign(body)).status == 200


def test_an_invoice_payment_is_dated_by_the_invoice_in_every_arrival_order():
    seen = set()
    for k, picks in enumerate(itertools.permutations(range(3))):
        events = _events(k)
        for i in picks:
            _deliver(events[i])
        (payment,) = Payment.objects.filter(stripe_invoice_id=f"in_{k}")
        assert Payment.objects.filter(stripe_payment_intent=f"pi_{k}").get() == payment
        seen.add((payment.paid_at, payment.source, payment.amount_pennies))
    assert seen == {
        (dt.datetime.fromtimestamp(PAID_AT, tz=dt.UTC), "subscription", 999)
    }
    assert business_day(dt.datetime.fromtimestamp(PAID_AT, tz=dt.UTC)) == dt.date(
        2026, 7, 1
    )
    assert not StripeEvent.objects.exclude(status="processed").exists()


def test_merging_keeps_the_cases_of_the_payment_intents_row():
    """A dispute opened on the PaymentIntent's own row before the invoice named
    it: the merge moves the dispute and its case, and nothing fails."""
    events = _events("d")
    _deliver(events[0])
    _deliver(
        envelope(
            "charge.dispute.created",
            {
                "id": "dp_d",
                "object": "dispute",
                "amount": 999,
                "charge": "ch_d",
                "currency": "gbp",
                "status": "needs_response",
                "reason": "fraudulent",
                "created": INTENT_AT + 10,
            },
            created=INTENT_AT + 10,
        )
    )
    _deliver(events[1])
    _deliver(events[2])
    (payment,) = Payment.objects.all()
    assert payment.stripe_invoice_id == "in_d"
    assert payment.disputes.get().stripe_dispute_id == "dp_d"
    from payments.models import PaymentException

    assert PaymentException.objects.get(kind="dispute").payment == payment
    assert not StripeEvent.objects.exclude(status="processed").exists()
