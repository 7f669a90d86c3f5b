"""An order's emails, end to end through the real pipeline and a real SMTP server:
placed, paid (Stripe's webhook), fulfilled (the ops console) and refunded (the
webhook) deliver confirmation, dispatch notice and refund notice, each once; the
ops timeline lists them."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from catalog.tests.factories import VariantFactory
from core.models import Message
from orders.models import Order
from orders.tests.factories import place_order
from payments.tests.events import intent_succeeded, post, refund_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def order(customer):
    variant = VariantFactory(
        stock=10, product__price_pennies=1250, product__name="Lake Soap"
    )
    return place_order(customer=customer, variants={variant: 2})


@pytest.fixture
def deliver(client, django_capture_on_commit_callbacks):
    """POST a Stripe event as Stripe would, with what follows its commit."""

    def send(event):
        with django_capture_on_commit_callbacks(execute=True):
            response = post(client, event)
        assert response.status_code == 200, response.content
        return response

    return send


def _fulfil(client, ops_user, order, django_capture_on_commit_callbacks):
    client.force_login(ops_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("ops:order_fulfil", args=[order.number]),
            {"tracking_reference": "RM123456789GB", "carrier": "royal-mail"},
        )
    assert response.status_code == 302


def test_placing_paying_fulfilling_and_refunding_deliver_the_four_messages(
    client, smtp, order, ops_user, deliver, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        placed = place_order(
            customer=order.customer, variants={VariantFactory(stock=1): 1}
        )
    assert placed.status == "pending"
    assert smtp.received == []  # placing sends nothing: nothing is paid yet

    deliver(intent_succeeded(order))
    order.refresh_from_db()
    assert order.status == "paid"
    [confirmation] = smtp.to(order.email)
    assert confirmation["Subject"].strip() == (
        f"Order {order.number} confirmed: thank you"
    )
    text, html = smtp.parts(confirmation)
    assert "2 x Lake Soap" in text and "£25.00" in text
    assert "Total" in text and f"£{order.total_pennies / 100:.2f}" in text
    assert "Sam Shopper" in text and "1 High Street" in text and "LS1 1AA" in text
    assert f"https://shop.example.com/orders/{order.number}/" in text
    assert "Lake Soap" in html and "Thank you for your order" in html

    _fulfil(client, ops_user, order, django_capture_on_commit_callbacks)
    dispatched = smtp.to(order.email)[1]
    assert dispatched["Subject"].strip() == f"Order {order.number} is on its way"
    text, html = smtp.parts(dispatched)
    assert "with Royal Mail" in text and "RM123456789GB" in text
    tracking = (
        "https://www.royalmail.com/track-your-item#/tracking-results/RM123456789GB"
    )
    assert tracking in text and tracking in html

    deliver(refund_event("re_msg1", 1000))
    refund = smtp.to(order.email)[2]
    assert refund["Subject"].strip() == (f"Refund of £10.00 for order {order.number}")
    text, _ = smtp.parts(refund)
    assert "we have refunded £10.00" in text
    assert "so far" not in text  # the first refund is the whole refunded total

    deliver(refund_event("re_msg2", 500, created=1_780_010_000))
    second = smtp.to(order.email)[3]
    text, _ = smtp.parts(second)
    assert "we have refunded £5.00" in text
    assert f"so far: £15.00 of £{order.total_pennies / 100:.2f}" in text

    rows = Message.objects.filter(target_type="order", target_id=str(order.pk))
    assert sorted(rows.values_list("kind", "status")) == [
        ("order_confirmation", "sent"),
        ("order_dispatched", "sent"),
        ("refund_issued", "sent"),
        ("refund_issued", "sent"),
    ]
    assert len(smtp.received) == 4
    assert all(m.provider_message_id for m in rows)


def test_a_replayed_payment_event_sends_no_second_confirmation(smtp, order, deliver):
    event = intent_succeeded(order)
    deliver(event)
    deliver(event)  # Stripe delivers it again
    deliver(intent_succeeded(order))  # and the same payment under a new event id
    assert len(smtp.to(order.email)) == 1
    assert Message.objects.filter(kind="order_confirmation").count() == 1


def test_a_replayed_refund_event_sends_one_refund_notice(smtp, order, deliver):
    deliver(intent_succeeded(order))
    deliver(refund_event("re_once", 700))
    deliver(refund_event("re_once", 700, event_type="refund.updated"))
    assert Message.objects.filter(kind="refund_issued").count() == 1
    assert len(smtp.to(order.email)) == 2  # confirmation + one refund notice


def test_a_pending_refund_sends_nothing_until_it_succeeds(smtp, order, deliver):
    deliver(intent_succeeded(order))
    deliver(refund_event("re_wait", 700, status="pending"))
    assert not Message.objects.filter(kind="refund_issued").exists()
    deliver(
        refund_event("re_wait", 700, event_type="refund.updated", created=1_780_010_000)
    )
    assert Message.objects.filter(kind="refund_issued").count() == 1


def test_no_confirmation_for_a_payment_whose_transaction_rolled_back(
    client, smtp, order, monkeypatch, django_capture_on_commit_callbacks
):
    from orders import messages
    from payments.services.ledger import payments

    tried = []
    real = messages.order_status_message_send

    def spy(**kwargs):
        tried.append(kwargs["order"].status)
        real(**kwargs)

    def boom(*args, **kwargs):
        raise RuntimeError("the ledger failed after the order was marked paid")

    monkeypatch.setattr("orders.services.lifecycle.order_status_message_send", spy)
    monkeypatch.setattr(payments, "_mark", boom)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, intent_succeeded(order))
    assert response.status_code == 500
    assert tried == ["paid"]  # it was recorded, inside the transaction that failed
    order.refresh_from_db()
    assert order.status == "pending"
    assert smtp.received == [] and not Message.objects.exists()


def test_a_disabled_kind_is_skipped_and_the_others_still_go(
    smtp, order, deliver, settings
):
    settings.MESSAGES_DISABLED = ["order_confirmation"]
    deliver(intent_succeeded(order))
    deliver(refund_event("re_still", 300))
    assert list(Message.objects.values_list("kind", flat=True)) == ["refund_issued"]


def test_the_ops_timeline_lists_the_messages_sent_and_failed(
    client, smtp, order, ops_user, deliver, django_capture_on_commit_callbacks
):
    deliver(intent_succeeded(order))
    smtp.refuse = True
    _fulfil(client, ops_user, order, django_capture_on_commit_callbacks)
    page = client.get(reverse("ops:order_detail", args=[order.number])).content
    page = page.decode()
    assert "Email: Order confirmation" in page
    assert f"to {order.email} · sent" in page
    assert "Email: Dispatch notice" in page
    assert f"to {order.email} · failed after 5 tries" in page


def test_the_order_page_costs_the_same_queries_however_many_messages(
    client, smtp, customer, ops_user, deliver
):
    def page_queries(number):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse("ops:order_detail", args=[number]))
            assert response.status_code == 200
        return len(queries)

    variant = VariantFactory(stock=10)
    quiet = place_order(customer=customer, variants={variant: 1})
    busy = place_order(customer=customer, variants={variant: 1})
    deliver(intent_succeeded(quiet, pi="pi_quiet", charge="ch_quiet"))
    deliver(intent_succeeded(busy, pi="pi_busy", charge="ch_busy"))
    for number in range(3):
        deliver(
            refund_event(
                f"re_busy{number}",
                100,
                charge="ch_busy",
                pi="pi_busy",
                created=1_780_010_000 + number,
            )
        )
    assert Message.objects.filter(target_id=str(busy.pk)).count() == 4
    client.force_login(ops_user)
    page_queries(quiet.number)  # warm the session and the user
    assert page_queries(busy.number) == page_queries(quiet.number)
    assert Order.objects.get(pk=busy.pk).refunded_pennies == 300
