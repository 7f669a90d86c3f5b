import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError

from audit.models import AuditLog
from catalog.models import StockMovement, Variant
from catalog.tests.factories import VariantFactory
from orders.tests.factories import place_order
from payments.models import Payment, StripeEvent
from payments.tests.events import intent_succeeded, post

pytestmark = pytest.mark.django_db


def test_a_database_error_mid_handler_leaves_the_event_failed_and_no_partial_write(
    client, customer, monkeypatch, capsys
):
    variant = VariantFactory(stock=5)
    order = place_order(customer=customer, variants={variant: 1})

    def broken(**kwargs):
        raise DatabaseError("injected: connection lost")

    # Fails after the payment row and the stock decrement are written.
    monkeypatch.setattr("payments.services.ledger.payments.order_mark_paid", broken)
    response = post(client, intent_succeeded(order))
    assert response.status_code == 500
    event = StripeEvent.objects.get()
    assert event.status == "failed" and event.attempts == 1
    assert "injected: connection lost" in event.last_error
    assert not Payment.objects.exists()
    assert not StockMovement.objects.filter(reason="sale").exists()
    assert Variant.objects.get(pk=variant.pk).stock_on_hand == 5
    order.refresh_from_db()
    assert order.status == "pending"

    monkeypatch.undo()
    call_command("reprocess_stripe_events", "--failed")
    assert "1 event(s) now processed" in capsys.readouterr().out
    event.refresh_from_db()
    assert (event.status, event.attempts, event.last_error) == ("processed", 2, "")
    order.refresh_from_db()
    assert order.status == "paid"
    assert Variant.objects.get(pk=variant.pk).stock_on_hand == 4
    row = AuditLog.objects.get(event_type="stripe_events.reprocessed")
    assert row.actor_label.startswith("cli:")
    assert row.metadata["outcome"] == {"processed": 1}


def test_stripe_retrying_a_failed_event_applies_it(client, customer, monkeypatch):
    order = place_order(customer=customer, variants={VariantFactory(stock=5): 1})
    event = intent_succeeded(order)
    monkeypatch.setattr(
        "payments.services.ledger.payments.stock_sell",
        lambda **kw: (_ for _ in ()).throw(DatabaseError("boom")),
    )
    assert post(client, event).status_code == 500
    monkeypatch.undo()
    assert post(client, event).status_code == 200
    order.refresh_from_db()
    assert order.status == "paid"


def test_reprocessing_is_idempotent(client, customer, capsys):
    order = place_order(customer=customer, variants={VariantFactory(stock=5): 1})
    post(client, intent_succeeded(order))
    event_id = StripeEvent.objects.get().event_id
    call_command("reprocess_stripe_events", "--id", event_id)
    assert Payment.objects.count() == 1
    assert StockMovement.objects.filter(reason="sale").count() == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "say which events: --failed, --pending, --stuck or --id EVT"),
        (("--id", "evt_nope"), "no stored event evt_nope"),
        (("--id", "evt_1", "--stuck"), "--id names one event: leave out --failed"),
    ],
)
def test_the_reprocess_command_explains_a_mistake(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("reprocess_stripe_events", *args)


def test_the_reprocess_command_fails_in_one_line_from_the_shell():
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "manage.py", "reprocess_stripe_events"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "CommandError: say which events: --failed, --pending, --stuck or --id EVT"
    ]


def test_the_ops_reprocess_button_is_audited(client, ops_user, customer, monkeypatch):
    from django.urls import reverse

    order = place_order(customer=customer, variants={VariantFactory(stock=5): 1})
    monkeypatch.setattr(
        "payments.services.ledger.payments.stock_sell",
        lambda **kw: (_ for _ in ()).throw(DatabaseError("boom")),
    )
    post(client, intent_succeeded(order))
    monkeypatch.undo()
    client.force_login(ops_user)
    page = client.get(reverse("payments_ops:events"), {"status": "failed"})
    assert "boom" in page.content.decode()
    event_id = StripeEvent.objects.get().event_id
    response = client.post(
        reverse("payments_ops:reprocess"), {"event_id": event_id}, follow=True
    )
    assert "Reprocessed: 1 processed." in response.content.decode()
    assert (
        AuditLog.objects.get(event_type="stripe_events.reprocessed").actor == ops_user
    )
