"""Transactional email (core.mail) against a real SMTP server on a loopback port:
recorded, sent after commit, once per key, retried, failed, resent; the outbox."""

import pytest
from celery import current_app
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.urls import reverse

from core.mail import message_send
from core.mail_delivery import retry_delay
from core.models import Message
from monitoring.checks import REGISTRY
from monitoring.models import DataQualityIssue
from monitoring.services import checks_run

pytestmark = pytest.mark.django_db

STAFF = "staff_issue_alert"


@pytest.fixture
def issue():
    return DataQualityIssue.objects.create(
        check_name="order_refunds_mismatch",
        severity="critical",
        fingerprint="order:1",
        message="Order PL-1 says £5.00 refunded; the ledger says £0.00.",
        evidence={},
        evidence_hash="x",
        first_seen="2026-05-28T10:00Z",
        last_seen="2026-05-28T10:00Z",
    )


def _alert(issue, to="ada@example.com", **extra):
    return message_send(
        kind=STAFF,
        to=to,
        context={"issue": issue, "issue_url": "https://shop.example/i/1/"},
        target=("issue", issue.pk),
        **extra,
    )


def test_a_message_is_recorded_then_sent_over_smtp_after_commit(
    smtp, issue, settings, django_capture_on_commit_callbacks
):
    settings.DEFAULT_FROM_EMAIL = "PureLaka <shop@example.com>"
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        [message] = _alert(issue)
        assert message.status == "queued" and smtp.received == []
    assert len(callbacks) == 1
    message.refresh_from_db()
    assert (message.status, message.attempts, message.last_error) == ("sent", 1, "")
    assert (message.target_type, message.target_id) == ("issue", str(issue.pk))
    [received] = smtp.received
    assert received["To"] == "ada@example.com"
    assert received["From"] == "PureLaka <shop@example.com>"
    assert message.subject.startswith("[PureLaka critical] order_refunds_mismatch: ")
    assert str(received["Subject"]).strip() == message.subject
    assert received["Message-ID"] == message.provider_message_id
    text, html = smtp.parts(received)
    assert "Order PL-1 says £5.00 refunded" in text
    assert "https://shop.example/i/1/" in text and "&amp;" not in text
    assert html.lstrip().startswith("<!doctype html>") and "PureLaka" in html
    assert message.sent_at is not None


def test_nothing_is_sent_or_kept_for_a_transaction_that_rolls_back(
    smtp, issue, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        _alert(issue)
        raise RuntimeError("the unit of work failed")
    assert callbacks == []
    assert smtp.received == [] and not Message.objects.exists()


def test_the_same_message_twice_is_sent_once_and_another_key_again(
    smtp, issue, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assert len(_alert(issue)) == 1
        assert _alert(issue) == []  # a repeated delivery of the same event
        assert len(_alert(issue, dedupe_key="reopened")) == 1
        # One row per recipient: a second address still gets it.
        assert len(_alert(issue, to=["ada@example.com", "bo@example.com"])) == 1
    assert len(smtp.received) == 3
    assert Message.objects.filter(status="sent").count() == 3


def test_a_disabled_kind_is_neither_recorded_nor_sent(smtp, issue, settings):
    settings.MESSAGES_DISABLED = [STAFF]
    assert _alert(issue) == []
    assert not Message.objects.exists()


def test_an_unknown_kind_is_refused(issue):
    with pytest.raises(ValueError, match="unknown kind of message: nope"):
        message_send(kind="nope", to="a@example.com", context={})


def test_a_refusing_server_is_retried_then_the_message_fails_and_monitoring_says_so(
    smtp, issue, settings, django_capture_on_commit_callbacks
):
    settings.MESSAGES_MAX_ATTEMPTS = 3
    smtp.refuse = True
    with django_capture_on_commit_callbacks(execute=True):
        [message] = _alert(issue)
    assert smtp.refused == 3  # the first try and two retries, then no more
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("failed", 3)
    assert "554" in message.last_error and "refused by the test server" in (
        message.last_error
    )

    checks_run(only=["messages_failed"])
    found = DataQualityIssue.objects.get(check_name="messages_failed")
    assert (found.status, found.severity) == ("open", "high")
    assert found.fingerprint == "messages:failed"
    assert "1 email(s) failed after their retries" in found.message
    assert "resend_messages --failed" in found.message
    assert found.evidence["messages"] == [message.pk]

    # The mail settings are fixed: an operator resends, and the issue clears.
    smtp.refuse = False
    with django_capture_on_commit_callbacks(execute=True):
        call_command("resend_messages", "--failed")
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("sent", 4)
    assert len(smtp.received) == 1
    checks_run(only=["messages_failed"])
    found.refresh_from_db()
    assert found.status == "resolved"


def test_retries_back_off_exponentially_up_to_an_hour():
    assert [retry_delay(n) for n in range(8)] == [
        60,
        120,
        240,
        480,
        960,
        1920,
        3600,
        3600,
    ]


def test_queue_mode_publishes_the_task_by_name_after_commit(
    issue, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.MESSAGES_DELIVERY = "queue"
    published = []
    monkeypatch.setattr(
        current_app,
        "send_task",
        lambda name, args=None, **options: published.append((name, args, options)),
    )
    with django_capture_on_commit_callbacks(execute=True):
        [message] = _alert(issue)
        assert published == []
    assert published == [("core.send_message", [message.pk], {"retry": False})]


def test_a_broker_that_refuses_the_publish_leaves_the_message_queued_for_resend(
    issue, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.MESSAGES_DELIVERY = "queue"

    def down(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(current_app, "send_task", down)
    with django_capture_on_commit_callbacks(execute=True):
        [message] = _alert(issue)
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("queued", 0)
    Message.objects.filter(pk=message.pk).update(created_at="2026-01-01T00:00Z")
    checks_run(only=["messages_failed"])
    stuck = DataQualityIssue.objects.get(check_name="messages_failed")
    assert stuck.fingerprint == "messages:queued"
    assert "queued for over 30 minutes" in stuck.message


def test_a_sent_message_is_never_sent_twice_by_a_redelivered_task(
    smtp, issue, django_capture_on_commit_callbacks
):
    from core.tasks import send_message_task

    with django_capture_on_commit_callbacks(execute=True):
        [message] = _alert(issue)
    assert send_message_task.apply(args=[message.pk]).get() == "sent"
    assert len(smtp.received) == 1
    message.refresh_from_db()
    assert message.attempts == 1


def test_resend_messages_mistakes_are_one_line(issue):
    with pytest.raises(CommandError, match="say which: --failed, --queued or --id N"):
        call_command("resend_messages")
    with pytest.raises(CommandError, match=r"^no message with id 999$"):
        call_command("resend_messages", "--id", "999")


def test_resend_is_audited(smtp, issue, django_capture_on_commit_callbacks):
    from audit.models import AuditLog

    smtp.refuse = True
    with django_capture_on_commit_callbacks(execute=True):
        [message] = _alert(issue)
    smtp.refuse = False
    with django_capture_on_commit_callbacks(execute=True):
        call_command("resend_messages", "--id", str(message.pk))
    row = AuditLog.objects.get(event_type="messages.resend")
    assert row.metadata["resent"] == [message.pk]
    assert row.actor_label.startswith("cli:")


def test_the_failed_messages_check_is_registered_as_integrity_high():
    check = REGISTRY["messages_failed"]
    assert (check.kind, check.severity) == ("integrity", "high")


# --- the outbox ----------------------------------------------------------------------


def test_the_outbox_shows_admins_each_message_with_its_bodies(
    client, admin_user, ops_user, issue, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        [message] = _alert(issue)
    url = reverse("core:outbox")
    client.force_login(ops_user)
    assert client.get(url).status_code == 403
    client.force_login(admin_user)
    page = client.get(url).content.decode()
    assert "ada@example.com" in page and "Staff alert: monitoring issue" in page
    assert "Order PL-1 says £5.00 refunded" in page  # the plain-text body
    html = client.get(url, {"html": message.pk})
    assert html.status_code == 200 and b"Triage the issue" in html.content
    policy = html["Content-Security-Policy"]
    assert "'unsafe-inline'" in policy and "script-src 'none'" in policy
    assert "'unsafe-inline'" not in client.get(url)["Content-Security-Policy"]


def test_the_outbox_is_not_found_where_mail_is_really_sent(
    client, admin_user, settings
):
    settings.DEBUG = False
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    client.force_login(admin_user)
    assert client.get(reverse("core:outbox")).status_code == 404
    settings.DEBUG = True
    assert client.get(reverse("core:outbox")).status_code == 200


def test_a_star_disables_every_kind(smtp, issue, settings):
    settings.MESSAGES_DISABLED = ["*"]
    assert _alert(issue) == []
    assert not Message.objects.exists()


def test_admins_read_messages_in_the_admin_but_cannot_change_them(
    client, admin_user, issue, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        [message] = _alert(issue)
    client.force_login(admin_user)
    listing = client.get(reverse("admin:core_message_changelist"))
    assert listing.status_code == 200 and b"ada@example.com" in listing.content
    # The bodies may hold live links (a password reset): not in the admin.
    row = client.get(reverse("admin:core_message_change", args=[message.pk]))
    assert row.status_code == 200 and b"https://shop.example/i/1/" not in row.content
    assert client.get(reverse("admin:core_message_add")).status_code == 403
