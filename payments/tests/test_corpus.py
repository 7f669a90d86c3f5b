"""Every real Stripe payload in ../shared/stripe_events gets a 2xx, never a 5xx, and a
second delivery of it changes nothing."""

import json

import pytest
from django.urls import reverse

from payments.gateway import sign
from payments.models import Dispute, Payment, PaymentException, Refund, StripeEvent
from payments.tests.corpus import FILES, needs_corpus

pytestmark = pytest.mark.django_db


def _deliver(client, raw: bytes):
    return client.post(
        reverse("payments:webhook"),
        data=raw,
        content_type="application/json",
        headers={"Stripe-Signature": sign(raw)},
    )


def _ledger():
    return [
        list(StripeEvent.objects.order_by("id").values_list("event_id", "status")),
        Payment.objects.count(),
        Refund.objects.count(),
        Dispute.objects.count(),
        PaymentException.objects.count(),
    ]


@needs_corpus
def test_the_corpus_has_the_expected_files():
    assert len(FILES) >= 50


@needs_corpus
@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_every_corpus_event_gets_a_2xx_and_a_replay_is_a_no_op(client, path):
    raw = path.read_bytes()  # the exact bytes: some carry a literal ×
    first = _deliver(client, raw)
    assert 200 <= first.status_code < 300, first.content
    event = StripeEvent.objects.get(event_id=json.loads(raw)["id"])
    assert event.status in {"processed", "pending", "ignored"}, event.last_error
    before = _ledger()
    second = _deliver(client, raw)
    assert 200 <= second.status_code < 300
    assert _ledger() == before


@needs_corpus
def test_the_whole_corpus_in_one_database_never_fails(client):
    """Linked samples (a refund before its payment, a dispute) meet each other."""
    for path in FILES:
        assert _deliver(client, path.read_bytes()).status_code < 300, path.name
    assert not StripeEvent.objects.filter(status="failed").exists()
    # The legacy-shape refunds on a known charge are all recorded (not only the newest).
    assert Refund.objects.filter(
        stripe_refund_id="re_000000000000000000000000"
    ).exists()
    # Charges without a PaymentIntent are payments of their own.
    assert (
        Payment.objects.filter(stripe_charge_id="ch_1PgafuB7WZ01zgkWXYmPNZs8").count()
        == 0
    )


def test_without_the_corpus_ci_fails_and_a_laptop_skips(monkeypatch):
    from payments.tests import corpus

    def reads_the_corpus():
        return "ran"

    monkeypatch.setattr(corpus, "FILES", [])
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true: the corpus is required"):
        corpus.needs_corpus(reads_the_corpus)()
    monkeypatch.setenv("CI", "")
    skipped = corpus.needs_corpus(reads_the_corpus)
    assert [m.name for m in skipped.pytestmark] == ["skip"]
    monkeypatch.setattr(corpus, "FILES", ["a file"])
    assert corpus.needs_corpus(reads_the_corpus)() == "ran"
