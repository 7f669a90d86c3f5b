"""The real gateway against the official SDK, with only its HTTP layer replaced."""

import json
from urllib.parse import parse_qs

import pytest
import stripe

from catalog.tests.factories import VariantFactory
from orders.tests.factories import place_order
from payments.gateway import StripeGateway, get_gateway

pytestmark = pytest.mark.django_db


class RecordingHTTPClient(stripe.HTTPClient):
    """Answers like Stripe's API and keeps every request."""

    name = "recording"

    def __init__(self, answers):
        super().__init__()
        self.answers = list(answers)
        self.requests = []

    def request(self, method, url, headers, post_data=None, **kwargs):
        self.requests.append(
            {
                "method": method,
                "url": url,
                "headers": dict(headers or {}),
                "form": parse_qs(
                    post_data.decode()
                    if isinstance(post_data, bytes)
                    else post_data or ""
                ),
            }
        )
        status, body = self.answers.pop(0)
        return json.dumps(body), status, {"request-id": "req_test"}

    def request_stream(self, *args, **kwargs):
        raise NotImplementedError

    def close(self):
        pass


@pytest.fixture
def stripe_settings(settings):
    settings.PAYMENTS_USE_STRIPE = True
    settings.STRIPE_SECRET_KEY = "sk_test_123"
    settings.STRIPE_API_VERSION = "2025-03-31.basil"
    return settings


def test_get_gateway_follows_the_setting(stripe_settings):
    assert isinstance(get_gateway(), StripeGateway)


def test_checkout_session_carries_the_order_and_is_idempotent(
    stripe_settings, customer
):
    order = place_order(customer=customer, variants={VariantFactory(stock=5): 2})
    http = RecordingHTTPClient(
        [
            (
                200,
                {
                    "id": "cs_test_1",
                    "object": "checkout.session",
                    "url": "https://checkout.stripe.com/c/pay/cs_test_1",
                },
            )
        ]
    )
    session = StripeGateway(http_client=http).create_checkout_session(
        order=order,
        success_url="https://shop/ok",
        cancel_url="https://shop/no",
        attempt=0,
    )
    assert (session.id, session.url) == (
        "cs_test_1",
        "https://checkout.stripe.com/c/pay/cs_test_1",
    )
    sent = http.requests[0]
    assert sent["method"] == "post"
    assert sent["url"].endswith("/v1/checkout/sessions")
    assert sent["headers"]["Stripe-Version"] == "2025-03-31.basil"
    assert sent["headers"]["Idempotency-Key"] == f"checkout-{order.pk}-0"
    assert sent["headers"]["Authorization"] == "Bearer sk_test_123"
    form = sent["form"]
    assert form["mode"] == ["payment"]
    assert form["payment_intent_data[metadata][order_id]"] == [str(order.pk)]
    assert form["metadata[order_id]"] == [str(order.pk)]
    assert form["client_reference_id"] == [str(order.pk)]
    assert form["line_items[0][price_data][unit_amount]"] == ["1500"]
    assert form["line_items[0][quantity]"] == ["2"]
    assert form["line_items[1][price_data][unit_amount]"] == ["395"]  # shipping
    assert form["line_items[0][price_data][currency]"] == ["gbp"]


def test_refund_goes_to_the_payment_intent_with_an_idempotency_key(stripe_settings):
    http = RecordingHTTPClient(
        [
            (
                200,
                {
                    "id": "re_1",
                    "object": "refund",
                    "amount": 500,
                    "status": "pending",
                    "created": 1780000000,
                    "charge": "ch_1",
                    "currency": "gbp",
                },
            )
        ]
    )
    refund = StripeGateway(http_client=http).create_refund(
        payment_intent="pi_1",
        charge="ch_1",
        amount_pennies=500,
        reason="requested_by_customer",
        idempotency_key="refund-abc",
        metadata={"order_id": "7"},
    )
    assert refund["id"] == "re_1" and refund["status"] == "pending"
    sent = http.requests[0]
    assert sent["url"].endswith("/v1/refunds")
    assert sent["headers"]["Idempotency-Key"] == "refund-abc"
    assert sent["form"]["payment_intent"] == ["pi_1"]
    assert "charge" not in sent["form"]
    assert sent["form"]["amount"] == ["500"]
    assert sent["form"]["metadata[order_id]"] == ["7"]


def _refund_answer():
    return (
        200,
        {
            "id": "re_1",
            "object": "refund",
            "amount": 500,
            "status": "pending",
            "created": 1780000000,
            "charge": "ch_1",
            "currency": "gbp",
        },
    )


@pytest.mark.parametrize(
    ("base", "address"),
    [
        ("https://api.stripe.com", "https://api.stripe.com"),  # the default
        ("http://localhost:8420", "http://localhost:8420"),  # localstripe
        ("http://localhost:8420/", "http://localhost:8420"),
    ],
)
def test_requests_go_to_the_configured_api_base(stripe_settings, base, address):
    """STRIPE_API_BASE points the real gateway at a Stripe-compatible server."""
    stripe_settings.STRIPE_API_BASE = base
    http = RecordingHTTPClient(
        [
            _refund_answer(),
            (200, {"id": "cs_test_1", "object": "checkout.session", "url": None}),
        ]
    )
    gateway = StripeGateway(http_client=http)
    gateway.create_refund(
        payment_intent="pi_1",
        charge="",
        amount_pennies=500,
        reason="",
        idempotency_key="refund-abc",
        metadata={},
    )
    gateway.expire_checkout_session(session_id="cs_test_1")
    assert [r["url"] for r in http.requests] == [
        f"{address}/v1/refunds",
        f"{address}/v1/checkout/sessions/cs_test_1/expire",
    ]


def test_a_stripe_error_surfaces_as_the_sdk_error(stripe_settings):
    http = RecordingHTTPClient(
        [
            (
                400,
                {
                    "error": {
                        "type": "invalid_request_error",
                        "message": "Refund amount exceeds charge.",
                    }
                },
            )
        ]
    )
    with pytest.raises(stripe.InvalidRequestError, match="exceeds"):
        StripeGateway(http_client=http).create_refund(
            payment_intent="pi_1",
            charge="",
            amount_pennies=10**9,
            reason="",
            idempotency_key="k",
            metadata={},
        )


def test_a_refused_refund_is_a_clear_message_and_writes_nothing(
    stripe_settings, customer, ops_user, client, monkeypatch
):
    from core.exceptions import DomainError
    from payments.models import Refund
    from payments.services.refunds import refund_issue
    from payments.tests.events import intent_succeeded, post

    order = place_order(customer=customer, variants={VariantFactory(stock=5): 1})
    stripe_settings.PAYMENTS_USE_STRIPE = False
    post(client, intent_succeeded(order))
    stripe_settings.PAYMENTS_USE_STRIPE = True
    http = RecordingHTTPClient(
        [
            (
                402,
                {
                    "error": {
                        "type": "card_error",
                        "message": "Charge already refunded.",
                    }
                },
            )
        ]
    )
    monkeypatch.setattr(
        "payments.services.refunds.get_gateway", lambda: StripeGateway(http_client=http)
    )
    with pytest.raises(DomainError, match="Stripe refused the refund"):
        refund_issue(
            order=order,
            amount_pennies=100,
            reason="",
            restock={},
            actor=ops_user,
            idempotency_key="k",
        )
    assert not Refund.objects.exists()


def test_an_erasure_cancels_a_subscription_at_once(stripe_settings):
    http = RecordingHTTPClient(
        [(200, {"id": "sub_9", "object": "subscription", "status": "canceled"})]
    )
    answer = StripeGateway(http_client=http).cancel_subscription_now(
        subscription_id="sub_9"
    )
    assert answer["status"] == "canceled"
    [request] = http.requests
    assert request["method"] == "delete"
    assert request["url"].endswith("/v1/subscriptions/sub_9")
