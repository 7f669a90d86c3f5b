"""Bad input gets 400/413 and stores nothing; good input is stored once."""

import json
import time
from pathlib import Path
from unittest import mock

import pytest
from django.conf import settings
from django.urls import reverse

from audit.models import AuditLog
from payments.gateway import sign
from payments.models import Payment, Refund, StripeEvent
from payments.tests.events import envelope, post

pytestmark = pytest.mark.django_db
VECTORS = (
    Path(settings.BASE_DIR).parent
    / "shared"
    / "stripe_events"
    / "signature_vectors.json"
)


def _rows():
    return (
        StripeEvent.objects.count(),
        Payment.objects.count(),
        Refund.objects.count(),
        AuditLog.objects.count(),
    )


def _unknown_event():
    return envelope("customer.created", {"id": "cus_1", "object": "customer"})


def _raw_post(client, body: bytes, header: str | None):
    headers = {"Stripe-Signature": header} if header is not None else {}
    return client.post(
        reverse("payments:webhook"),
        data=body,
        content_type="application/json",
        headers=headers,
    )


def _body(event):
    return json.dumps(event, separators=(",", ":")).encode()


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("no signature", 400),
        ("wrong secret", 400),
        ("timestamp 10 minutes old", 400),
        ("body not JSON", 400),
        ("JSON but not an object", 400),
        ("event without id", 400),
        ("event without data.object", 400),
        ("2 MiB body", 413),
        ("4 MiB body", 413),
        ("timestamp 10 minutes ahead", 400),
        ("nested 100 deep", 400),
        ("nested 100,000 deep", 400),
        ("malformed header", 400),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(client, case, status):
    event = _unknown_event()
    body = _body(event)
    header = sign(body)
    if case == "no signature":
        header = None
    elif case == "wrong secret":
        header = sign(body, secret="whsec_some_other_endpoint")
    elif case == "timestamp 10 minutes old":
        header = sign(body, timestamp=int(time.time()) - 600)
    elif case == "body not JSON":
        body = b"this is not json"
        header = sign(body)
    elif case == "JSON but not an object":
        body = b"[1, 2, 3]"
        header = sign(body)
    elif case == "event without id":
        del event["id"]
        body = _body(event)
        header = sign(body)
    elif case == "event without data.object":
        event["data"] = {}
        body = _body(event)
        header = sign(body)
    elif case == "2 MiB body":
        body = b'{"pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'
        header = sign(body)
    elif case == "4 MiB body":  # past Django's upload limit too: the same answer
        body = b'{"pad": "' + b"x" * (4 * 1024 * 1024) + b'"}'
        header = sign(body)
    elif case == "timestamp 10 minutes ahead":
        header = sign(body, timestamp=int(time.time()) + 600)
    elif case.startswith("nested"):
        depth = 100 if case == "nested 100 deep" else 100_000
        event["data"]["object"]["metadata"] = json.loads(
            "[" * min(depth, 900) + "]" * min(depth, 900)
        )
        body = _body(event)
        if depth > 900:  # past what the parser can read, as an attacker would send
            body = body.replace(b'"metadata":[', b'"metadata":[' + b"[" * depth, 1)
            body = body.replace(b"]]", b"]]" + b"]" * depth, 1)
        header = sign(body)
    elif case == "malformed header":
        header = "garbage"
    before = _rows()
    response = _raw_post(client, body, header)
    assert response.status_code == status
    assert _rows() == before


def test_a_known_event_is_stored_with_its_facts_and_a_replay_is_a_no_op(client):
    event = _unknown_event()
    first = post(client, event)
    assert first.status_code == 200
    stored = StripeEvent.objects.get()
    assert (stored.event_id, stored.type, stored.status) == (
        event["id"],
        "customer.created",
        "ignored",
    )
    assert stored.api_version == "2025-03-31.basil"
    assert stored.stripe_created.timestamp() == event["created"]
    assert stored.payload == event
    second = post(client, event)
    assert second.status_code == 200
    assert second.content == b"duplicate"
    assert StripeEvent.objects.count() == 1


def test_webhook_needs_no_session_or_csrf_and_refuses_get(client):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    assert post(strict, _unknown_event()).status_code == 200
    assert client.get(reverse("payments:webhook")).status_code == 405


def test_several_secrets_are_accepted_during_a_roll(client, settings):
    settings.STRIPE_WEBHOOK_SECRET = "whsec_new_one,whsec_old_one"
    assert post(client, _unknown_event(), secret="whsec_old_one").status_code == 200
    assert post(client, _unknown_event(), secret="whsec_new_one").status_code == 200
    assert post(client, _unknown_event(), secret="whsec_other").status_code == 400


@pytest.mark.skipif(not VECTORS.exists(), reason="../shared/stripe_events not present")
def test_the_checked_signature_vectors(client, settings):
    """Known-answer Stripe-Signature cases, with the clock frozen at their time."""
    vectors = json.loads(VECTORS.read_text())
    checked = 0
    for case in vectors["cases"]:
        payload = vectors["payload"] if case["payload"] == "SAME" else case["payload"]
        settings.STRIPE_WEBHOOK_SECRET = "whsec_test_purelaka_signing_secret_0001"
        if case["secret"] != "whsec_test_purelaka_signing_secret_0001":
            settings.STRIPE_WEBHOOK_SECRET = case["secret"]
        StripeEvent.objects.all().delete()
        now = vectors["timestamp"] + (
            10_000 if case["expect"].startswith("invalid_when") else 5
        )
        with mock.patch("stripe._webhook.time.time", return_value=now):
            response = _raw_post(client, payload.encode(), case["header"])
        if case["expect"] == "valid":
            assert response.status_code == 200, case["name"]
            assert StripeEvent.objects.count() == 1, case["name"]
        else:
            assert response.status_code == 400, case["name"]
            assert StripeEvent.objects.count() == 0, case["name"]
        checked += 1
    assert checked == len(vectors["cases"]) >= 10


def test_a_nul_character_in_an_event_is_stored_and_applied_as_a_replacement(client):
    """PostgreSQL's jsonb cannot hold U+0000: every stored event has it as U+FFFD,
    on every database, so Stripe's retries are never answered 500 forever."""
    event = envelope(
        "charge.succeeded",
        {
            "id": "ch_nul",
            "object": "charge",
            "amount": 1500,
            "amount_captured": 1500,
            "captured": True,
            "currency": "gbp",
            "created": 1_780_000_000,
            "status": "succeeded",
            "description": "gift \u0000 wrap",
            "metadata": {"note\u0000": "a\u0000b", "literal": "\\u0000 stays"},
            "billing_details": {"email": "nul@example.com"},
        },
    )
    response = post(client, event)
    assert response.status_code == 200, response.content
    stored = StripeEvent.objects.get(event_id=event["id"])
    assert stored.status == "processed"
    obj = stored.payload["data"]["object"]
    assert obj["description"] == "gift \ufffd wrap"
    assert obj["metadata"] == {"note\ufffd": "a\ufffdb", "literal": "\\u0000 stays"}
    assert Payment.objects.get(stripe_charge_id="ch_nul").amount_pennies == 1500
    assert post(client, event).status_code == 200  # a retry is a duplicate
