"""A four-day webhook outage: the gap check opens, the hourly catch-up asks Stripe
(the SDK over HTTP, its transport serving Stripe's event list) for what the
endpoint never received and applies it, and the gap check resolves."""

import datetime as dt
import json
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.urls import reverse

import analyticsapp.management.commands.sync_stripe as command
import analyticsapp.tasks
from analyticsapp.tasks import stripe_catch_up_task
from monitoring.models import DataQualityIssue
from monitoring.services import checks_run
from payments.gateway import StripeGateway
from payments.models import Payment, StripeEvent
from payments.services.backfill import DirSource, history_backfill
from payments.tests.events import envelope, post
from payments.tests.stripe_lists import StripeListsHTTPClient

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 5, 4, 9, 0, tzinfo=dt.UTC)


def _charge_event(n: int, at: dt.datetime) -> dict:
    created = int(at.timestamp())
    charge = {
        "id": f"ch_gap{n}",
        "object": "charge",
        "amount": 1000 + n,
        "amount_captured": 1000 + n,
        "captured": True,
        "currency": "gbp",
        "created": created,
        "status": "succeeded",
        "billing_details": {"email": f"buyer{n}@example.com"},
        "metadata": {},
    }
    return envelope(
        "charge.succeeded", charge, created=created, event_id=f"evt_gap{n:03d}"
    )


def _gap_issues(status):
    return DataQualityIssue.objects.filter(
        check_name="stripe_events_gap", status=status
    )


def test_a_four_day_outage_is_noticed_and_healed_by_the_catch_up(
    client, settings, tmp_path, monkeypatch
):
    settings.PAYMENTS_USE_STRIPE, settings.STRIPE_SECRET_KEY = True, "sk_test_gap"
    delivered = [_charge_event(n, T0 - dt.timedelta(hours=3 - n)) for n in range(3)]
    missed = [
        _charge_event(10 + n, T0 + dt.timedelta(days=n, hours=1)) for n in range(4)
    ]
    with time_machine.travel(T0, tick=False):
        for event in delivered:
            assert post(client, event).status_code == 200
        checks_run(only=["stripe_events_gap"])
    assert not _gap_issues("open").exists()

    # Stripe's event list, newest first: what the endpoint got and what it missed.
    (tmp_path / "events.jsonl").write_text(
        "".join(json.dumps(e) + "\n" for e in reversed(delivered + missed))
    )
    http = StripeListsHTTPClient(tmp_path)
    gateway = StripeGateway(http_client=http, sleep=lambda seconds: None)
    monkeypatch.setattr(analyticsapp.tasks, "get_gateway", lambda: gateway)

    with time_machine.travel(T0 + dt.timedelta(days=4, hours=2), tick=False):
        checks_run(only=["stripe_events_gap"])
        [gap] = _gap_issues("open")
        assert gap.evidence["quiet_hours"] == 98.0
        counts = stripe_catch_up_task()
        checks_run(only=["stripe_events_gap"])

    # Listed from an hour before the newest it had: two of those again, four new.
    assert counts["new"] == 4 and counts["listed"] == 6
    # It asked from an hour before the newest event the inbox had.
    since = int((T0 - dt.timedelta(hours=2)).timestamp())
    asked = [q for resource, q in http.asked if resource == "events"]
    assert asked[-1]["created[gte]"] == str(since)
    assert set(Payment.objects.values_list("stripe_charge_id", flat=True)) == {
        f"ch_gap{n}" for n in (0, 1, 2, 10, 11, 12, 13)
    }
    assert StripeEvent.objects.count() == 7
    assert not _gap_issues("open").exists() and _gap_issues("resolved").exists()

    # The next hour asks again from its own high-water mark: nothing new.
    with time_machine.travel(T0 + dt.timedelta(days=4, hours=3), tick=False):
        again = stripe_catch_up_task()
    assert again["new"] == 0


def test_offline_payments_have_no_gap_and_no_catch_up(settings, client):
    settings.PAYMENTS_USE_STRIPE = False
    with time_machine.travel(T0, tick=False):
        post(client, _charge_event(1, T0))
    with time_machine.travel(T0 + dt.timedelta(days=9), tick=False):
        checks_run(only=["stripe_events_gap"])
        assert stripe_catch_up_task() == {"skipped": "offline"}
    assert not _gap_issues("open").exists()


def test_sync_stripe_applies_what_was_missed_since_a_day(
    settings, tmp_path, monkeypatch
):
    settings.PAYMENTS_USE_STRIPE, settings.STRIPE_SECRET_KEY = True, "sk_test_gap"
    missed = [_charge_event(n, T0 + dt.timedelta(hours=n)) for n in range(3)]
    (tmp_path / "events.jsonl").write_text(
        "".join(json.dumps(e) + "\n" for e in reversed(missed))
    )
    http = StripeListsHTTPClient(tmp_path)
    gateway = StripeGateway(http_client=http, sleep=lambda seconds: None)
    monkeypatch.setattr(command, "get_gateway", lambda: gateway)
    out, err = StringIO(), StringIO()
    with time_machine.travel(T0 + dt.timedelta(days=20), tick=False):
        call_command("sync_stripe", "--since", "2026-01-01", stdout=out, stderr=err)
    assert "Stripe lists events of the last 30 days only" in err.getvalue()
    assert "3 event(s) listed, 3 applied that the webhook missed" in out.getvalue()
    assert Payment.objects.count() == 3


def test_sync_stripe_refuses_bad_input_in_one_line(settings):
    settings.PAYMENTS_USE_STRIPE = False
    with pytest.raises(CommandError, match="nothing to ask"):
        call_command("sync_stripe")
    settings.PAYMENTS_USE_STRIPE = True
    with pytest.raises(CommandError, match="is not a date"):
        call_command("sync_stripe", "--since", "last week")


def test_admins_see_where_a_stopped_backfill_stands_and_ops_do_not(
    client, admin_user, ops_user, tmp_path
):
    charges = [_charge_event(n, T0)["data"]["object"] for n in range(150)]
    (tmp_path / "charges.jsonl").write_text(
        "".join(json.dumps(c) + "\n" for c in charges)
    )
    history_backfill(DirSource(tmp_path), actor_label="test", stop_after_pages=1)
    client.force_login(admin_user)
    page = client.get(reverse("monitoring:issues")).content.decode()
    assert "stopped part-way: run it again to resume" in page
    assert '<td><code>charges</code></td><td class="num">100</td>' in page
    client.force_login(ops_user)
    page = client.get(reverse("monitoring:issues")).content.decode()
    assert "Stripe history backfills" not in page
