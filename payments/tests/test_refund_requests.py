"""A refund is asked for in three steps, none of them a network call inside a
transaction: the request (with its key), Stripe, the answer through the ledger.
Whatever fails in between, the customer is refunded once."""

import datetime as dt

import pytest
import stripe
from django.utils import timezone

from audit.models import AuditLog
from catalog.tests.factories import VariantFactory
from core.exceptions import DomainError
from orders.tests.factories import place_order
from payments.gateway import OfflineGateway
from payments.gateway.guard import network_call
from payments.models import Refund, RefundRequest
from payments.services.refunds import (
    refund_issue,
    refund_requests_resend,
    refundable_pennies,
)
from payments.tests.events import intent_succeeded, post

pytestmark = pytest.mark.django_db


@pytest.fixture
def paid(client, customer):
    order = place_order(customer=customer, variants={VariantFactory(stock=10): 2})
    post(client, intent_succeeded(order))
    order.refresh_from_db()
    return order


class FlakyStripe(OfflineGateway):
    """Stripe as seen through a network that fails the first `failures` calls."""

    def __init__(self, failures=0, refuse=False, error=None):
        self.failures, self.refuse, self.keys = failures, refuse, []
        self.error = error or stripe.APIConnectionError("Could not connect to Stripe.")

    @network_call
    def create_refund(self, **kwargs):
        self.keys.append(kwargs["idempotency_key"])
        if self.refuse:
            raise stripe.InvalidRequestError(
                "Charge ch_1 has already been refunded.", "charge"
            )
        if self.failures:
            self.failures -= 1
            raise self.error
        return super().create_refund(**kwargs)


def _ask(order, ops_user, key="k1", amount=500):
    return refund_issue(
        order=order,
        amount_pennies=amount,
        reason="requested_by_customer",
        restock={},
        actor=ops_user,
        idempotency_key=key,
    )


def test_stripe_out_of_reach_keeps_the_request_and_the_sweep_completes_it(
    monkeypatch, paid, ops_user, django_capture_on_commit_callbacks
):
    flaky = FlakyStripe(failures=1)
    monkeypatch.setattr("payments.services.refunds.get_gateway", lambda: flaky)
    with pytest.raises(DomainError, match="will be sent again automatically"):
        _ask(paid, ops_user)
    request = RefundRequest.objects.get()
    assert (request.status, request.attempts) == ("requested", 1)
    assert request.last_error.startswith("APIConnectionError")
    assert not Refund.objects.exists()
    # The request already counts: nobody can ask for the same money twice.
    assert refundable_pennies(paid) == paid.total_pennies - 500
    # Not yet due: the sweep leaves a fresh request alone.
    assert refund_requests_resend() == {"recorded": 0, "refused": 0, "later": 0}
    later = timezone.now() + dt.timedelta(minutes=6)
    with django_capture_on_commit_callbacks(execute=True):  # Stripe's webhooks
        assert refund_requests_resend(now=later) == {
            "recorded": 1,
            "refused": 0,
            "later": 0,
        }
    assert flaky.keys == ["k1", "k1"]  # the same key: Stripe makes one refund
    refund = Refund.objects.get()
    assert (refund.status, refund.amount_pennies) == ("succeeded", 500)
    assert (refund.idempotency_key, refund.requested_by) == ("k1", ops_user)
    request.refresh_from_db()
    assert (request.status, request.stripe_refund_id) == (
        "sent",
        refund.stripe_refund_id,
    )
    paid.refresh_from_db()
    assert paid.refunded_pennies == 500


def test_a_refusal_says_why_is_audited_and_frees_the_amount(
    monkeypatch, paid, ops_user
):
    monkeypatch.setattr(
        "payments.services.refunds.get_gateway", lambda: FlakyStripe(refuse=True)
    )
    with pytest.raises(DomainError, match="already been refunded"):
        _ask(paid, ops_user)
    request = RefundRequest.objects.get()
    assert request.status == "refused"
    row = AuditLog.objects.get(event_type="refund.refused")
    assert row.metadata == {
        "idempotency_key": "k1",
        "error": "Charge ch_1 has already been refunded.",
    }
    assert refundable_pennies(paid) == paid.total_pennies
    # The same form again gives the same answer, without asking Stripe again.
    with pytest.raises(DomainError, match="Stripe refused the refund"):
        _ask(paid, ops_user)
    assert refund_requests_resend(now=timezone.now() + dt.timedelta(hours=1)) == {
        "recorded": 0,
        "refused": 0,
        "later": 0,
    }


def test_the_request_is_audited_before_stripe_is_asked(monkeypatch, paid, ops_user):
    flaky = FlakyStripe(failures=1)
    monkeypatch.setattr("payments.services.refunds.get_gateway", lambda: flaky)
    with pytest.raises(DomainError):
        _ask(paid, ops_user, amount=700)
    row = AuditLog.objects.get(event_type="refund.requested")
    assert row.actor == ops_user
    assert row.metadata == {
        "idempotency_key": "k1",
        "amount_pennies": 700,
        "reason": "requested_by_customer",
        "restock": {},
        "lines": {},
        "shipping_pennies": 0,
    }


def test_a_double_click_while_stripe_is_unreachable_makes_one_request(
    monkeypatch, paid, ops_user
):
    flaky = FlakyStripe(failures=5)
    monkeypatch.setattr("payments.services.refunds.get_gateway", lambda: flaky)
    for _ in range(2):
        with pytest.raises(DomainError):
            _ask(paid, ops_user)
    assert RefundRequest.objects.count() == 1
    assert RefundRequest.objects.get().attempts == 2
    flaky.failures = 0
    refund = _ask(paid, ops_user)
    assert Refund.objects.get() == refund
    assert set(flaky.keys) == {"k1"}


def test_the_sweep_gives_up_after_its_attempts(monkeypatch, paid, ops_user):
    flaky = FlakyStripe(failures=100)
    monkeypatch.setattr("payments.services.refunds.get_gateway", lambda: flaky)
    with pytest.raises(DomainError):
        _ask(paid, ops_user)
    RefundRequest.objects.update(attempts=10)
    assert refund_requests_resend(now=timezone.now() + dt.timedelta(hours=1)) == {
        "recorded": 0,
        "refused": 0,
        "later": 0,
    }
    assert len(flaky.keys) == 1


def test_a_stripe_server_error_keeps_the_request_for_the_sweep(
    monkeypatch, paid, ops_user
):
    error = stripe.APIError("An error occurred with our servers.", http_status=500)
    flaky = FlakyStripe(failures=1, error=error)
    monkeypatch.setattr("payments.services.refunds.get_gateway", lambda: flaky)
    with pytest.raises(DomainError, match="did not answer"):
        _ask(paid, ops_user)
    request = RefundRequest.objects.get()
    assert request.status == "requested"  # Stripe may have made it: ask again
    assert refundable_pennies(paid) == paid.total_pennies - 500
    refund = _ask(paid, ops_user)  # the same form again: the same key
    assert flaky.keys == ["k1", "k1"]
    assert Refund.objects.get() == refund


def test_a_refund_stripe_made_after_all_completes_a_refused_request(
    client, monkeypatch, paid, ops_user
):
    monkeypatch.setattr(
        "payments.services.refunds.get_gateway", lambda: FlakyStripe(refuse=True)
    )
    with pytest.raises(DomainError):
        _ask(paid, ops_user)
    from payments.tests.events import refund_event

    event = refund_event("re_late", 500)
    event["data"]["object"]["metadata"] = {"refund_request": "k1"}
    post(client, event)
    request = RefundRequest.objects.get()
    assert (request.status, request.stripe_refund_id) == ("sent", "re_late")
    row = AuditLog.objects.get(event_type="refund.request_made_after_refusal")
    assert row.metadata["refund"] == "re_late"
    assert row.metadata["idempotency_key"] == "k1"
