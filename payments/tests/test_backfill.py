"""A listed Stripe object becomes the events the webhook would have delivered,
dated by the Stripe times the object states (payments.services.backfill)."""

import json
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.forms.models import model_to_dict

from catalog.tests.factories import VariantFactory
from orders.tests.factories import place_order
from payments.gateway import StripeGateway
from payments.models import Dispute, HistoryCheckpoint, Payment, PaymentException
from payments.services.backfill import (
    ApiSource,
    DirSource,
    Known,
    history_backfill,
    object_events,
)
from payments.services.importing import events_import
from payments.tests.events import BASE, envelope
from payments.tests.stripe_lists import StripeListsHTTPClient

pytestmark = pytest.mark.django_db
DAY = 86_400


def _types(events):
    return [(e["type"], e["created"]) for e in events]


def _write(directory, **lists):
    directory.mkdir(exist_ok=True)
    for resource, objects in lists.items():
        with (directory / f"{resource}.jsonl").open("w") as out:
            for obj in objects:
                out.write(json.dumps(obj) + "\n")
    return directory


def _charge(charge_id, amount=5000, created=BASE):
    return {
        "id": charge_id,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "captured": True,
        "currency": "gbp",
        "created": created,
        "status": "succeeded",
        "billing_details": {"email": "someone@example.com"},
        "metadata": {},
    }


def test_a_succeeded_intent_is_paid_when_its_charge_was_made():
    intent = {"id": "pi_1", "object": "payment_intent", "status": "succeeded"}
    intent |= {"created": BASE, "latest_charge": "ch_1", "amount": 500}
    known = Known(charge_created={"ch_1": BASE + 90})
    assert _types(object_events("payment_intents", intent, known)) == [
        ("payment_intent.succeeded", BASE + 90)
    ]
    expanded = dict(intent, latest_charge={"id": "ch_1", "created": BASE + 60})
    assert _types(object_events("payment_intents", expanded, Known())) == [
        ("payment_intent.succeeded", BASE + 60)
    ]
    canceled = dict(intent, status="canceled", canceled_at=BASE + 5)
    assert _types(object_events("payment_intents", canceled, Known())) == [
        ("payment_intent.canceled", BASE + 5)
    ]
    waiting = dict(intent, status="requires_payment_method", last_payment_error=None)
    assert object_events("payment_intents", waiting, Known()) == []


def test_a_failed_refund_fails_when_its_failure_balance_transaction_was_made():
    refund = {"id": "re_1", "object": "refund", "status": "failed", "created": BASE}
    refund["failure_balance_transaction"] = {"id": "txn_f", "created": BASE + DAY}
    assert _types(object_events("refunds", refund, Known())) == [
        ("refund.failed", BASE + DAY)
    ]
    ok = dict(refund, status="succeeded")
    assert _types(object_events("refunds", ok, Known())) == [("refund.created", BASE)]


def test_an_invoice_gives_its_payment_and_each_subscriptions_state_from_its_period():
    price = {"id": "price_m", "object": "price", "unit_amount": 2900}
    price |= {
        "currency": "gbp",
        "recurring": {"interval": "month", "interval_count": 1},
    }
    line = {
        "id": "il_1",
        "amount": 5800,
        "quantity": 2,
        "period": {"start": BASE + 10, "end": BASE + 30 * DAY},
        "pricing": {"price_details": {"price": "price_m"}},
        "parent": {
            "subscription_item_details": {
                "subscription": "sub_1",
                "subscription_item": "si_1",
                "proration": False,
            }
        },
    }
    proration = dict(line, id="il_2", period={"start": BASE + 99, "end": BASE + 999})
    proration["parent"] = {
        "subscription_item_details": {"subscription": "sub_1", "proration": True}
    }
    invoice = {
        "id": "in_1",
        "object": "invoice",
        "status": "paid",
        "customer": "cus_1",
        "currency": "gbp",
        "billing_reason": "subscription_cycle",
        "created": BASE,
        "status_transitions": {"paid_at": BASE + 20},
        "lines": {"data": [line, proration]},
        "payments": {
            "data": [
                {
                    "id": "inpay_1",
                    "status": "paid",
                    "payment": {"payment_intent": "pi_9"},
                    "status_transitions": {"paid_at": BASE + 21},
                }
            ]
        },
    }
    events = object_events("invoices", invoice, Known(prices={"price_m": price}))
    assert _types(events) == [
        ("invoice.paid", BASE + 20),
        ("invoice_payment.paid", BASE + 21),
        ("customer.subscription.updated", BASE + 10),
    ]
    assert events[1]["data"]["object"]["invoice"] == "in_1"
    state = events[2]["data"]["object"]
    assert (state["id"], state["status"], state["customer"]) == (
        "sub_1",
        "active",
        "cus_1",
    )
    [item] = state["items"]["data"]  # the proration is an amount, not a state
    assert (item["price"], item["quantity"]) == (price, 2)
    first = dict(invoice, billing_reason="subscription_create")
    made = object_events("invoices", first, Known(prices={"price_m": price}))[-1]
    assert made["type"] == "customer.subscription.created"
    unpaid = dict(invoice, status="open")
    assert object_events("invoices", unpaid, Known()) == []


def test_a_subscription_as_listed_is_its_newest_state():
    subscription = {"id": "sub_1", "object": "subscription", "created": BASE}
    ended = dict(
        subscription, status="canceled", canceled_at=BASE + 5, ended_at=BASE + 9
    )
    assert _types(object_events("subscriptions", ended, Known())) == [
        ("customer.subscription.deleted", BASE + 9)
    ]
    active = dict(
        subscription,
        status="active",
        items={"data": [{"current_period_start": BASE + 40 * DAY}]},
    )
    # Just after the state its current period's invoice gave.
    assert _types(object_events("subscriptions", active, Known())) == [
        ("customer.subscription.updated", BASE + 40 * DAY + 1)
    ]


def test_a_paid_payout_is_made_then_paid_on_its_arrival_date():
    payout = {"id": "po_1", "object": "payout", "status": "paid", "created": BASE}
    payout["arrival_date"] = BASE + 2 * DAY
    events = object_events("payouts", payout, Known())
    assert _types(events) == [("payout.created", BASE), ("payout.paid", BASE + 2 * DAY)]
    assert events[0]["data"]["object"]["status"] == "pending"


def test_the_same_object_is_the_same_event_and_a_changed_one_is_a_new_event():
    refund = {"id": "re_1", "object": "refund", "status": "succeeded", "created": BASE}
    [first] = object_events("refunds", refund, Known())
    [again] = object_events("refunds", dict(refund), Known())
    [changed] = object_events("refunds", dict(refund, status="canceled"), Known())
    assert first["id"] == again["id"] != changed["id"]


def _dispute(dispute_id, charge_id, *, status, bts):
    return {
        "id": dispute_id,
        "object": "dispute",
        "amount": 5000,
        "charge": charge_id,
        "currency": "gbp",
        "status": status,
        "reason": "fraudulent",
        "created": BASE + DAY,
        "evidence_details": {"due_by": BASE + 8 * DAY},
        "balance_transactions": bts,
    }


def _bt(txn, amount, created):
    return {"id": txn, "object": "balance_transaction", "amount": amount} | {
        "fee": 1500 if amount < 0 else 0,
        "net": amount - (1500 if amount < 0 else 0),
        "currency": "gbp",
        "created": created,
        "type": "adjustment",
        "reporting_category": "dispute" if amount < 0 else "dispute_reversal",
    }


def _books_of(dispute_id):
    dispute = Dispute.objects.get(stripe_dispute_id=dispute_id)
    row = model_to_dict(dispute, exclude=["id", "payment", "stripe_dispute_id"])
    row.pop("stripe_charge_id")
    case = PaymentException.objects.get(stripe_ref=dispute_id)
    return row, (case.kind, case.resolved_at)


def test_a_won_dispute_from_its_list_ends_where_its_live_events_end(tmp_path):
    withdrawn, back = BASE + 2 * DAY, BASE + 12 * DAY
    # Live: the charge, then the dispute's four events as Stripe sends them.
    live_bts = [_bt("txn_l1", -5000, withdrawn), _bt("txn_l2", 5000, back)]
    opened = _dispute("dp_live", "ch_live", status="needs_response", bts=[])
    events = [
        envelope("charge.succeeded", _charge("ch_live")),
        envelope("charge.dispute.created", opened, created=BASE + DAY),
        envelope(
            "charge.dispute.funds_withdrawn",
            dict(opened, balance_transactions=live_bts[:1]),
            created=withdrawn,
        ),
        envelope(
            "charge.dispute.funds_reinstated",
            dict(opened, status="won", balance_transactions=live_bts),
            created=back,
        ),
        envelope(
            "charge.dispute.closed",
            dict(opened, status="won", balance_transactions=live_bts),
            created=back,
        ),
    ]
    events_import(lines=[json.dumps(e) for e in events], actor_label="test")
    # Listed: the charge and the dispute as Stripe lists them at the end.
    listed = _dispute(
        "dp_list",
        "ch_list",
        status="won",
        bts=[_bt("txn_h1", -5000, withdrawn), _bt("txn_h2", 5000, back)],
    )
    directory = _write(tmp_path / "x", charges=[_charge("ch_list")], disputes=[listed])
    history_backfill(DirSource(directory), actor_label="test")

    assert _books_of("dp_list") == _books_of("dp_live")
    row, (_, closed) = _books_of("dp_list")
    assert row["status"] == "won" and closed == datetime.fromtimestamp(back, UTC)
    assert row["funds_withdrawn_pennies"] == row["funds_reinstated_pennies"] == 5000


def test_a_bad_line_is_named_and_the_rest_imported(tmp_path):
    directory = _write(tmp_path / "x", charges=[_charge("ch_1"), _charge("ch_2")])
    with (directory / "charges.jsonl").open("a") as out:
        out.write("{not json\n")
    summary = history_backfill(DirSource(directory), actor_label="test")
    assert summary.invalid == ["charges.jsonl line 3: not a Stripe object"]
    assert Payment.objects.filter(stripe_charge_id__in=["ch_1", "ch_2"]).count() == 2
    assert summary.objects["charges"] == 2 and summary.finished


def test_since_asks_stripe_only_for_newer_objects(tmp_path, settings):
    settings.PAYMENTS_USE_STRIPE, settings.STRIPE_SECRET_KEY = True, "sk_test_since"
    old, new = _charge("ch_old", created=BASE), _charge("ch_new", created=BASE + DAY)
    directory = _write(tmp_path / "x", charges=[new, old])
    http = StripeListsHTTPClient(directory)
    gateway = StripeGateway(http_client=http, sleep=lambda seconds: None)
    summary = history_backfill(ApiSource(gateway, since=BASE + 1), actor_label="test")
    assert summary.objects["charges"] == 1
    assert list(Payment.objects.values_list("stripe_charge_id", flat=True)) == [
        "ch_new"
    ]
    asked = [query for resource, query in http.asked if resource == "charges"]
    assert asked[-1]["created[gte]"] == str(BASE + 1)
    # Its checkpoints are its own: another --since is another backfill.
    assert set(HistoryCheckpoint.objects.values_list("source", flat=True)) == {
        f"api:since:{BASE + 1}"
    }


def test_the_command_refuses_bad_input_in_one_line(tmp_path, settings):
    settings.PAYMENTS_USE_STRIPE = False
    with pytest.raises(CommandError, match="is not a directory"):
        call_command("import_stripe_history", "--from-dir", str(tmp_path / "none"))
    with pytest.raises(CommandError, match="give --from-dir"):
        call_command("import_stripe_history")
    with pytest.raises(CommandError, match="--api only"):
        call_command(
            "import_stripe_history",
            "--from-dir",
            str(tmp_path),
            "--since",
            "2025-01-01",
        )
    settings.PAYMENTS_USE_STRIPE = True
    with pytest.raises(CommandError, match="is not a date"):
        call_command("import_stripe_history", "--since", "yesterday")


def test_the_command_shows_progress_and_a_summary(tmp_path):
    charges = [_charge(f"ch_{n}", created=BASE + n) for n in range(250)]
    directory = _write(tmp_path / "x", charges=charges)
    out = StringIO()
    call_command("import_stripe_history", "--from-dir", str(directory), stdout=out)
    text = out.getvalue()
    assert "  charges: 250/250 objects (100%)" in text
    assert "charges: 250 object(s)" in text
    assert "charge.succeeded" in text and "250 new event(s)" in text
    assert Payment.objects.count() == 250


def test_another_shops_order_id_in_older_history_never_pays_our_order(
    tmp_path, customer
):
    order = place_order(customer=customer, variants={VariantFactory(stock=5): 1})
    theirs = {"order_id": str(order.pk), "order_number": "WC-4471"}
    intent = {"id": "pi_wc", "object": "payment_intent", "status": "succeeded"}
    intent |= {"created": BASE, "amount": 999, "amount_received": 999}
    intent |= {"currency": "gbp", "latest_charge": "ch_wc", "metadata": theirs}
    ours = dict(intent, id="pi_ours", latest_charge="ch_ours", metadata={})
    ours["metadata"] = {"order_id": str(order.pk), "order_number": order.number}
    ours["amount"] = ours["amount_received"] = order.total_pennies
    directory = _write(tmp_path / "x", payment_intents=[intent, ours])
    history_backfill(DirSource(directory), actor_label="test")
    assert Payment.objects.get(stripe_payment_intent="pi_wc").order is None
    assert Payment.objects.get(stripe_payment_intent="pi_ours").order == order
    order.refresh_from_db()
    assert order.status == "paid"
