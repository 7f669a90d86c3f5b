"""Importing a JSONL file of Stripe events: the real corpus, a generated merchant
history in any order (and twice), bad lines, the snapshots rebuilt after an import
(analyticsapp.services.history) and the management command."""

import datetime as dt
import importlib.util
import io
import json
import random
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import transaction

from analyticsapp.models import DailySnapshot, MrrDailySnapshot, SnapshotRun
from analyticsapp.services.history import (
    snapshots_rebuild_touched,
    stripe_history_import,
)
from analyticsapp.services.snapshots import snapshots_build
from audit.models import AuditLog
from core.timeutils import business_day
from payments.handlers import HANDLERS
from payments.models import Payment, Refund, StripeEvent
from payments.services.importing import events_import
from payments.tests.corpus import FILES as CORPUS
from payments.tests.corpus import needs_corpus
from subscriptions.models import Subscription, SubscriptionChange

pytestmark = pytest.mark.django_db
GENERATOR = Path(settings.BASE_DIR) / "scripts" / "generate_sample_history.py"


def _generator():
    """scripts/ is not a package: load the generator from its file."""
    spec = importlib.util.spec_from_file_location("generate_sample_history", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def sample() -> list[str]:
    """90 days of a merchant's events (about 500), one JSON event a line, sorted."""
    generator = _generator()
    return generator.to_jsonl(generator.generate(seed=7, days=90)).splitlines()


def _import(lines, **kwargs):
    """The payments import alone: the inbox and the ledger, no snapshots."""
    return events_import(lines=lines, actor_label="test", **kwargs)


def _import_and_rebuild(lines, **kwargs):
    """The import as the command runs it: then the snapshots of the days touched."""
    return stripe_history_import(lines=lines, actor_label="test", **kwargs)


def _expected_payments(lines) -> int:
    """One payment per paid invoice plus one per PaymentIntent that is not an
    invoice's (invoice_payment.paid ties the two together)."""
    events = [json.loads(line) for line in lines]
    invoices = {
        e["data"]["object"]["id"]
        for e in events
        if e["type"] == "invoice.paid" and e["data"]["object"]["amount_paid"] > 0
    }
    invoice_intents = {
        e["data"]["object"]["payment"]["payment_intent"]
        for e in events
        if e["type"] == "invoice_payment.paid"
    }
    intents = {
        e["data"]["object"]["id"]
        for e in events
        if e["type"] == "payment_intent.succeeded"
    }
    return len(invoices) + len(intents - invoice_intents)


def _ledger() -> dict:
    """What the books say: payments, refunds, subscriptions, daily snapshots."""
    return {
        "payments": set(
            Payment.objects.values_list(
                "stripe_payment_intent",
                "stripe_charge_id",
                "stripe_invoice_id",
                "amount_pennies",
                "paid_at",
                "source",
            )
        ),
        "refunds": set(
            Refund.objects.values_list(
                "stripe_refund_id",
                "payment__stripe_payment_intent",
                "amount_pennies",
                "status",
                "stripe_created",
            )
        ),
        "subscriptions": set(
            Subscription.objects.values_list(
                "stripe_subscription_id", "status", "mrr_pennies"
            )
        ),
        "daily": list(
            DailySnapshot.objects.order_by("day").values_list(
                "day",
                "gross_revenue_pennies",
                "refunds_pennies",
                "net_revenue_pennies",
                "subscription_revenue_pennies",
            )
        ),
        "mrr": list(
            MrrDailySnapshot.objects.order_by("day").values_list(
                "day",
                "mrr_pennies",
                "new_pennies",
                "expansion_pennies",
                "contraction_pennies",
                "churn_pennies",
                "reactivation_pennies",
            )
        ),
    }


def _database() -> dict:
    """The ledger plus the inbox and the row counts."""
    return {
        **_ledger(),
        "events": set(StripeEvent.objects.values_list("event_id", "status")),
        "counts": [
            model.objects.count()
            for model in (
                StripeEvent,
                Payment,
                Refund,
                Subscription,
                SubscriptionChange,
                DailySnapshot,
                MrrDailySnapshot,
            )
        ],
    }


@pytest.fixture(scope="module")
def sorted_ledger(sample, django_db_setup, django_db_blocker) -> dict:
    """The ledger after importing the sample as written (sorted), rolled back: in a
    transaction of ours, so without asking Stripe (the gateway refuses to), which
    `_ledger` does not read."""
    with django_db_blocker.unblock(), transaction.atomic():
        _import_and_rebuild(sample, settle=False)
        ledger = _ledger()
        transaction.set_rollback(True)
    return ledger


@needs_corpus
def test_every_corpus_event_imports_without_failure():
    lines = [json.dumps(json.loads(p.read_text("utf-8"))) for p in CORPUS]

    summary = _import(lines)

    totals = summary.totals
    assert summary.events == len(CORPUS) >= 50
    assert totals["failed"] == totals["invalid"] == totals["duplicate"] == 0
    assert not StripeEvent.objects.filter(status="failed").exists()
    assert totals["new"] + totals["ignored"] + totals["pending"] == summary.events
    assert _import(lines).totals["duplicate"] == summary.events


def test_sample_imports_every_event_once_and_counts_each_payment_once(sample):
    done = _import_and_rebuild(sample)
    summary = done.summary

    totals = summary.totals
    assert summary.events == len(sample)
    assert totals["failed"] == totals["pending"] == totals["invalid"] == 0
    assert totals["ignored"] == sum('"customer.created"' in line for line in sample)
    assert summary.by_type["invoice.paid"]["new"] > 0
    # basil's invoice and its PaymentIntent arrive as separate events: one payment.
    assert Payment.objects.count() == _expected_payments(sample)
    assert Payment.objects.filter(source="subscription").count() == sum(
        '"invoice.paid"' in line for line in sample
    )
    first = min(json.loads(line)["created"] for line in sample)
    last = max(json.loads(line)["created"] for line in sample)
    first_day = business_day(dt.datetime.fromtimestamp(first, dt.UTC))
    last_day = business_day(dt.datetime.fromtimestamp(last, dt.UTC))
    assert (summary.touched_from, summary.touched_to) == (first_day, last_day)
    assert (done.rebuilt_from, done.rebuilt_to) == (first_day, last_day)
    assert DailySnapshot.objects.count() == done.rebuilt_days
    gross = sum(DailySnapshot.objects.values_list("gross_revenue_pennies", flat=True))
    assert gross == sum(Payment.objects.values_list("amount_pennies", flat=True))
    assert Subscription.objects.filter(status="canceled").exists()
    assert Subscription.objects.filter(status="active", mrr_pennies__gt=0).exists()


def test_the_import_asks_stripe_for_every_balance_transaction_before_the_rebuild(
    sample,
):
    """Events never carry them: after the import the settlement sync asks (here the
    offline gateway answers), so the rebuilt snapshots hold the fees, and every
    business day of the history reconciles."""
    from analyticsapp.reconciliation import days_reconciled
    from payments.models import BalanceTransaction
    from payments.services.settlement import payments_without_bt, refunds_without_bt

    done = _import_and_rebuild(sample)

    bts = BalanceTransaction.objects.all()
    assert done.settled["recorded"] == bts.count()
    assert bts.filter(type="charge").count() == Payment.objects.count()
    assert (
        bts.filter(type="refund").count()
        == Refund.objects.filter(status="succeeded").count()
    )
    assert not payments_without_bt().exists() and not refunds_without_bt().exists()
    assert done.settled["still_missing"] == done.settled["errors"] == 0
    fees = sum(DailySnapshot.objects.values_list("stripe_fees_pennies", flat=True))
    assert fees == sum(bts.values_list("fee_pennies", flat=True)) > 0
    for snap in DailySnapshot.objects.all():
        assert snap.net_revenue_after_fees_pennies == (
            snap.gross_revenue_pennies
            - snap.refunds_pennies
            - snap.dispute_losses_pennies
            - snap.stripe_fees_pennies
            - snap.dispute_fees_pennies
        )
    # Stripe's daily payouts in the file: each paid one listed, to the penny.
    from payments.models import Payout
    from payments.services.settlement import payout_difference, payouts_reconciled

    paid = payouts_reconciled(Payout.objects.filter(status="paid"))
    assert len(paid) == sum('"type":"payout.paid"' in line for line in sample) > 20
    assert done.settled["payouts_listed"] == len(paid)
    for payout in paid:
        assert payout.lines > 0 and payout_difference(payout) == 0, payout
        assert payout.lines_net_pennies == payout.amount_pennies
    assert done.settled["lines"] == sum(p.lines for p in paid)
    days = days_reconciled(done.rebuilt_from, done.rebuilt_to)
    assert {d["status"] for d in days} <= {"agrees", "explained"}
    assert sum(d["stripe_gross_pennies"] for d in days) == sum(
        d["ledger_gross_pennies"] for d in days
    )


def test_the_payments_import_builds_no_snapshot_and_names_the_days_it_touched(
    sample,
):
    lines = sample[:60]

    summary = _import(lines)

    created = [json.loads(line)["created"] for line in lines]
    first, last = (
        business_day(dt.datetime.fromtimestamp(t, dt.UTC))
        for t in (min(created), max(created))
    )
    assert (summary.touched_from, summary.touched_to) == (first, last)
    assert not DailySnapshot.objects.exists() and not SnapshotRun.objects.exists()
    audit = AuditLog.objects.get(event_type="stripe_events.imported")
    assert audit.metadata["days_touched"] == {
        "from": first.isoformat(),
        "to": last.isoformat(),
        "days": (last - first).days + 1,
    }


def test_a_backdated_import_rebuilds_up_to_the_last_day_already_built():
    day = dt.date(2025, 1, 1)
    snapshots_build(
        date_from=day, date_to=day + dt.timedelta(days=40), triggered_by="t"
    )

    rebuilt = snapshots_rebuild_touched(
        date_from=day + dt.timedelta(days=2),
        date_to=day + dt.timedelta(days=3),
        triggered_by="import_stripe_events:test",
    )

    assert rebuilt == (day + dt.timedelta(days=2), day + dt.timedelta(days=40))
    runs = SnapshotRun.objects.filter(triggered_by="import_stripe_events:test")
    # 39 days in 31-day chunks, each its own run.
    assert sorted(runs.values_list("date_from", "date_to")) == [
        (day + dt.timedelta(days=2), day + dt.timedelta(days=32)),
        (day + dt.timedelta(days=33), day + dt.timedelta(days=40)),
    ]


def test_importing_the_sample_twice_changes_nothing(sample):
    _import_and_rebuild(sample)
    before = _database()

    again = _import_and_rebuild(sample)

    assert again.summary.totals["duplicate"] == len(sample)
    assert again.summary.totals["new"] == 0
    assert again.summary.touched_from is None
    assert again.rebuilt_from is None  # nothing new: no snapshot rebuilt
    assert _database() == before


def test_a_file_repeating_every_event_in_reverse_counts_the_repeats_as_duplicates(
    sample, sorted_ledger
):

    summary = _import_and_rebuild(sample + sample[::-1]).summary

    assert summary.totals["duplicate"] == len(sample)
    assert summary.totals["new"] + summary.totals["ignored"] == len(sample)
    assert _ledger() == sorted_ledger


def test_a_shuffled_file_gives_the_same_ledger_as_the_sorted_one(sample, sorted_ledger):
    shuffled = sample[:]
    random.Random(1).shuffle(shuffled)

    _import_and_rebuild(shuffled)

    assert _ledger() == sorted_ledger


def test_pages_imported_newest_first_converge_to_the_sorted_ledger(
    sample, sorted_ledger
):
    """The Events API lists newest first: importing page files in that order
    feeds every flow backwards (refunds, charges and invoice payments before
    their payment), across imports."""
    pages = [sample[i : i + 100] for i in range(0, len(sample), 100)]

    summaries = [_import_and_rebuild(page).summary for page in reversed(pages)]

    assert sum(s.totals["failed"] for s in summaries) == 0
    assert not StripeEvent.objects.filter(status__in=["pending", "failed"]).exists()
    assert _ledger() == sorted_ledger


def test_events_imported_one_by_one_newest_first_count_each_payment_once(sample):
    first_weeks = sample[:200]

    for line in reversed(first_weeks):  # as webhooks could deliver them
        _import([line])

    assert Payment.objects.count() == _expected_payments(first_weeks)


def test_bad_lines_are_counted_with_their_numbers_and_the_rest_imports(sample):
    good = [json.loads(line) for line in sample[:3]]
    lines = [
        json.dumps(good[0]),
        "{not json",
        json.dumps({k: v for k, v in good[1].items() if k != "id"}),
        "",
        json.dumps({"object": "list", "data": [good[2], {"id": "evt_x"}]}),
        json.dumps([1, 2]),
    ]

    summary = _import(lines)

    assert [(i.line, i.reason) for i in summary.invalid] == [
        (2, "not JSON"),
        (3, "event has no id"),
        (5, "item 2: event has no type"),
        (6, "not a JSON object"),
    ]
    assert summary.totals["invalid"] == 4
    assert summary.events == 2
    assert set(StripeEvent.objects.values_list("event_id", flat=True)) == {
        good[0]["id"],
        good[2]["id"],
    }


def test_events_the_inbox_cannot_hold_are_invalid_lines_not_a_crash(sample):
    good = json.loads(sample[0])
    long_id = {**good, "id": "evt_" + "x" * 300}
    far_future = {**good, "id": "evt_far", "created": 10**12}
    nul = json.loads(sample[1])
    nul["data"]["object"]["metadata"] = {"note": "a\u0000b"}

    summary = _import([json.dumps(e) for e in (long_id, far_future, nul, good)])

    reasons = {i.line: i.reason for i in summary.invalid}
    assert reasons[1] == "event id longer than 255 characters"
    assert reasons[2] == "event created time out of range"
    # U+0000 is stored as U+FFFD on every database (jsonb cannot hold it).
    assert 3 not in reasons
    stored = StripeEvent.objects.get(event_id=nul["id"]).payload
    assert stored["data"]["object"]["metadata"] == {"note": "a\ufffdb"}
    assert StripeEvent.objects.filter(event_id=good["id"]).exists()


def test_an_event_stored_but_never_processed_is_processed_on_import(sample):
    event = json.loads(sample[0])
    StripeEvent.objects.create(
        event_id=event["id"],
        type=event["type"],
        stripe_created=dt.datetime.fromtimestamp(event["created"], dt.UTC),
        payload=event,
    )

    summary = _import(sample[:1])

    assert summary.totals["duplicate"] == 0
    assert StripeEvent.objects.get().status in {"processed", "ignored"}


def test_command_prints_progress_and_a_summary_and_writes_an_audit_row(
    sample, tmp_path
):
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(sample[:300]) + "\n", encoding="utf-8")
    out = io.StringIO()

    call_command("import_stripe_events", str(path), stdout=out)

    output = out.getvalue()
    assert "events: 250/300 events" in output
    assert "events/s, ETA" in output
    assert "snapshots:" in output
    assert "invoice.paid" in output
    assert "imported events.jsonl: 300 line(s), 300 event(s)" in output
    assert "balance transactions (round 1): " in output
    assert "0 not at Stripe yet, 0 Stripe error(s)" in output
    built = DailySnapshot.objects.order_by("day").values_list("day", flat=True)
    assert f"snapshots rebuilt {built.first()}..{built.last()}" in output
    assert AuditLog.objects.filter(
        event_type="analytics.snapshots_built",
        actor_label__startswith="import_stripe_events:cli:",
    ).exists()
    audit = AuditLog.objects.get(event_type="stripe_events.imported")
    assert audit.actor_label.startswith("cli:")
    assert audit.metadata["file"] == "events.jsonl"
    assert audit.metadata["totals"]["failed"] == 0
    assert audit.metadata["events"] == 300


def test_command_with_no_rebuild_builds_no_snapshots(sample, tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(sample[:50]), encoding="utf-8")

    call_command(
        "import_stripe_events",
        str(path),
        "--no-rebuild",
        "--no-settlement",
        stdout=io.StringIO(),
    )

    assert StripeEvent.objects.count() == 50
    assert not DailySnapshot.objects.exists()
    from payments.models import BalanceTransaction

    assert not BalanceTransaction.objects.exists()


@pytest.mark.parametrize("make", ["missing", "directory", "not_utf8"])
def test_command_refuses_an_unreadable_file_in_one_line(tmp_path, make):
    path = tmp_path / "events.jsonl"
    if make == "directory":
        path.mkdir()
    elif make == "not_utf8":
        path.write_bytes(b'{"id": "evt_\xff"}\n')

    with pytest.raises(CommandError) as error:
        call_command("import_stripe_events", str(path), stdout=io.StringIO())

    message = str(error.value)
    assert "\n" not in message
    assert str(path) in message
    assert not StripeEvent.objects.exists()


def test_command_fails_when_an_event_fails_and_points_at_reprocessing(
    sample, tmp_path, monkeypatch
):
    def broken(payload):
        raise RuntimeError("boom")

    monkeypatch.setitem(HANDLERS, "charge.succeeded", broken)
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(sample[:40]), encoding="utf-8")
    failing = sum('"charge.succeeded"' in line for line in sample[:40])
    assert failing > 0

    with pytest.raises(CommandError) as error:
        call_command("import_stripe_events", str(path), stdout=io.StringIO())

    message = str(error.value)
    assert message.startswith(f"{failing} event(s) failed")
    assert "reprocess_stripe_events --failed" in message
    assert StripeEvent.objects.filter(status="failed").count() == failing
    assert AuditLog.objects.filter(event_type="stripe_events.imported").exists()
