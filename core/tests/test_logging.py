"""Logs: JSON lines with the request id, secrets redacted, every webhook outcome."""

import io
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.urls import reverse

from catalog.tests.factories import VariantFactory
from core.logging import JsonFormatter, RedactSecretsFilter, RequestIdFilter, redact
from orders.tests.factories import place_order
from payments.gateway import sign
from payments.handlers import HANDLERS
from payments.tests.events import envelope, intent_succeeded, post, refund_event

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def json_log():
    """The root logger also writes to a handler set up as settings_prod's is; call
    the fixture's value for the JSON objects written so far."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.addFilter(RedactSecretsFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    # seed_demo quietens the webhook logger for the rest of the process.
    webhook_logger = logging.getLogger("payments.webhook")
    levels = (root.level, webhook_logger.level)
    root.setLevel(logging.INFO)
    webhook_logger.setLevel(logging.INFO)
    root.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)
    root.setLevel(levels[0])
    webhook_logger.setLevel(levels[1])


def _from(lines, logger):
    return [line for line in lines if line["logger"] == logger]


# --- JSON lines and the request id ------------------------------------------------


@pytest.mark.django_db
def test_a_request_logs_json_lines_carrying_its_request_id(client, json_log):
    # Django logs this 404 once the request-id middleware has returned: the id
    # then comes from the request attached to the record.
    response = client.get("/no-such-page/", headers={"X-Request-ID": "req-404-abcdef"})
    assert response.status_code == 404
    (line,) = _from(json_log(), "django.request")
    assert line["request_id"] == "req-404-abcdef" == response["X-Request-ID"]
    assert line["level"] == "WARNING"
    assert line["message"] == "Not Found: /no-such-page/"
    assert line["time"].endswith("Z") and "T" in line["time"]
    assert line["status_code"] == 404


@pytest.mark.django_db
def test_a_refused_request_is_logged_with_its_request_id(client, customer, json_log):
    client.force_login(customer)
    response = client.get("/ops/", headers={"X-Request-ID": "req-403-abcdef"})
    assert response.status_code == 403
    (line,) = _from(json_log(), "django.request")
    assert line["request_id"] == "req-403-abcdef"
    assert line["message"].startswith("Forbidden")


def test_a_line_outside_any_request_has_a_null_request_id(json_log):
    logging.getLogger("purelaka.probe").info("nightly job ran")
    (line,) = _from(json_log(), "purelaka.probe")
    assert line == {
        "time": line["time"],
        "level": "INFO",
        "logger": "purelaka.probe",
        "message": "nightly job ran",
        "request_id": None,
    }


def test_an_exception_is_in_the_line_as_text(json_log):
    try:
        raise KeyError("missing thing")
    except KeyError:
        logging.getLogger("purelaka.probe").exception("it broke")
    (line,) = _from(json_log(), "purelaka.probe")
    assert line["level"] == "ERROR"
    assert line["exception"].startswith("Traceback (most recent call last):")
    assert "KeyError: 'missing thing'" in line["exception"]


# --- redaction --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "secret", "kept"),
    [
        ("key sk_live_51Habc123XYZ in use", "51Habc123XYZ", "sk_live_[REDACTED]"),
        ("key sk_test_4eC39HqLyjWDarjtT1", "4eC39HqLyjWDarjtT1", "sk_test_"),
        ("restricted rk_live_abcDEF123", "abcDEF123", "rk_live_[REDACTED]"),
        ("signing whsec_test_purelaka_offline", "test_purelaka", "whsec_[REDACTED]"),
        ("Authorization: Bearer eyJhbGciOi.x.y", "eyJhbGciOi", "Authorization: "),
        ("{'HTTP_AUTHORIZATION': 'Basic dXNlcjpw'}", "dXNlcjpw", "AUTHORIZATION"),
        ("token bearer abc123def456ghi", "abc123def456ghi", "bearer [REDACTED]"),
        ("card 4242424242424242 declined", "4242424242424242", "[REDACTED-PAN]"),
        ("card 4000 0566 5566 5556.", "5566 5556", "card [REDACTED-PAN]."),
        ("amex 3782-822463-10005", "822463", "[REDACTED-PAN]"),
    ],
)
def test_secrets_and_card_numbers_are_redacted(text, secret, kept):
    clean = redact(text)
    assert secret not in clean
    assert kept in clean


@pytest.mark.parametrize(
    "text",
    [
        "order PL-ABCD2345 paid 3395 pennies at 2026-05-28T12:00:00Z",
        "webhook evt_1Nq2 payment_intent.succeeded: processed",
        "pi_3MtwBwLkdIwHu7ix28a3tqPa ch_3MtwBwLkdIwHu7ix2 cus_NffrFeUfNV2Hib",
        "stripe created 1780000000; publishable pk_live_abc is public",
        "request 1f0c2a9b8d7e6f5a4b3c2d1e0f9a8b7c",
    ],
)
def test_ordinary_operational_text_is_left_alone(text):
    assert redact(text) == text


def test_secrets_are_redacted_from_message_args_extras_and_exceptions(json_log):
    log = logging.getLogger("purelaka.probe")
    log.warning("charging with key %s for %d pennies", "sk_live_abcdef123", 3395)
    log.info("header", extra={"auth_header": "Authorization: Bearer tok_abcdef"})
    log.info("card %(pan)s", {"pan": "4242 4242 4242 4242"})
    try:
        raise ValueError("Stripe refused the key sk_test_abcdef123")
    except ValueError:
        log.exception("call failed with whsec_abcdef")
    lines = _from(json_log(), "purelaka.probe")
    text = json.dumps(lines)
    for secret in ("abcdef123", "tok_abcdef", "4242 4242", "whsec_abcdef"):
        assert secret not in text
    assert lines[0]["message"] == (
        "charging with key sk_live_[REDACTED] for 3395 pennies"
    )
    assert lines[1]["auth_header"] == "Authorization: [REDACTED]"
    assert lines[2]["message"] == "card [REDACTED-PAN]"
    assert lines[3]["message"] == "call failed with whsec_[REDACTED]"
    assert (
        "ValueError: Stripe refused the key sk_test_[REDACTED]"
        in (lines[3]["exception"])
    )


def test_a_clean_record_keeps_its_arguments_for_other_handlers():
    record = logging.LogRecord("x", logging.INFO, "", 0, "paid %d", (3395,), None)
    assert RedactSecretsFilter().filter(record)
    assert (record.msg, record.args) == ("paid %d", (3395,))


def test_prod_settings_write_redacted_json_lines():
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "STRIPE_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="purelaka.settings_prod",
        DJANGO_SECRET_KEY="x" * 60 + "-prod-like-secret-key-for-tests",
        DJANGO_ALLOWED_HOSTS="shop.example.com",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/purelaka",
        PAYMENTS_USE_STRIPE="0",
        PAYMENTS_ALLOW_OFFLINE="1",
        STRIPE_WEBHOOK_SECRET="whsec_for_logging_tests",
        LOG_LEVEL="INFO",
    )
    code = (
        "import logging; logging.getLogger('payments.webhook').warning("
        "'key %s card %s', 'sk_live_abc123', '4242424242424242')"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    (line,) = [json.loads(x) for x in result.stderr.splitlines() if x.strip()]
    assert line["message"] == "key sk_live_[REDACTED] card [REDACTED-PAN]"
    assert (line["level"], line["logger"], line["request_id"]) == (
        "WARNING",
        "payments.webhook",
        None,
    )


# --- the webhook: one line per outcome --------------------------------------------


def _webhook_lines(json_log):
    return _from(json_log(), "payments.webhook")


@pytest.mark.django_db
def test_a_webhook_delivery_logs_event_id_type_and_outcome(client, customer, json_log):
    order = place_order(customer=customer, variants={VariantFactory(stock=5): 1})
    event = intent_succeeded(order, pi="pi_log", charge="ch_log")
    body = json.dumps(event).encode()
    response = client.post(
        reverse("payments:webhook"),
        data=body,
        content_type="application/json",
        headers={
            "Stripe-Signature": sign(body, timestamp=int(time.time())),
            "X-Request-ID": "req-webhook-0001",
        },
    )
    assert response.status_code == 200
    (line,) = _webhook_lines(json_log)
    assert line["message"] == (
        f"webhook {event['id']} payment_intent.succeeded: processed"
    )
    assert line["stripe_event_id"] == event["id"]
    assert line["stripe_event_type"] == "payment_intent.succeeded"
    assert line["outcome"] == "processed"
    assert line["request_id"] == "req-webhook-0001"


@pytest.mark.django_db
def test_every_webhook_outcome_is_logged_with_the_event(
    client, customer, json_log, monkeypatch
):
    order = place_order(customer=customer, variants={VariantFactory(stock=5): 1})
    paid = intent_succeeded(order, pi="pi_out", charge="ch_out")
    early_refund = refund_event("re_out", 100, charge="ch_unknown", pi="pi_unknown")
    unknown = envelope("customer.created", {"id": "cus_out", "object": "customer"})
    broken = envelope("charge.dispute.closed", {"id": "dp_out", "object": "dispute"})

    def boom(payload):
        raise RuntimeError("handler exploded")

    monkeypatch.setitem(HANDLERS, "charge.dispute.closed", boom)
    for event in (paid, paid, early_refund, unknown, broken):
        post(client, event)
    assert post(client, paid, secret="whsec_not_ours").status_code == 400

    lines = _webhook_lines(json_log)
    seen = [(x.get("stripe_event_id"), x["outcome"], x["level"]) for x in lines]
    assert seen == [
        (paid["id"], "processed", "INFO"),
        (paid["id"], "duplicate", "INFO"),
        (early_refund["id"], "pending", "INFO"),
        (unknown["id"], "ignored", "INFO"),
        (broken["id"], "failed", "ERROR"),
        (None, "refused", "WARNING"),
    ]
    for line in lines[:5]:
        assert line["stripe_event_id"] in line["message"]
        assert line["stripe_event_type"] in line["message"]
        assert line["outcome"] in line["message"]
    assert "awaiting" in lines[2]["message"]
    assert "RuntimeError: handler exploded" in lines[4]["exception"]
    assert lines[5]["message"].startswith("webhook refused: bad signature")
