"""A merchant's history from Stripe's object lists ends in the live pipeline's books.

The first months of the shipped sample year are delivered as events (the live path,
with its balance transactions from the simulator), their books kept; the same
history as the object lists Stripe would give (scripts/objects_from_events.py,
balance transactions as listed) is then backfilled into an empty database, from
files and from the API (the SDK over HTTP, its transport answering like Stripe's
list endpoints, 429s included): the books are equal, a second run changes nothing,
and a run stopped half way resumes to the same books.
"""

import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.forms.models import model_to_dict

from analyticsapp.models import DailySnapshot, MrrDailySnapshot
from analyticsapp.services.history import stripe_history_import, stripe_objects_import
from analyticsapp.tasks import import_stripe_history_task
from audit.models import AuditLog
from payments.gateway import StripeGateway
from payments.gateway.offline import _bt_object
from payments.models import (
    BalanceTransaction,
    Dispute,
    HistoryCheckpoint,
    Payment,
    Payout,
    Refund,
    StripeEvent,
)
from payments.services.backfill import ApiSource, DirSource
from payments.tests.stripe_lists import StripeListsHTTPClient
from scripts.objects_from_events import objects_from_events, write_lists
from subscriptions.models import Subscription

SAMPLE = (
    Path(__file__).resolve().parents[2] / "docs" / "samples" / "merchant_year.jsonl"
)
MONTHS = 4  # of the sample year: its first quarter and a bit, to keep the test quick
# When Stripe's state changed is the event's time; a listed object states only
# what it is, so these columns (and the ids of events) are not the books.
NOT_BOOKS = {
    "id",
    "created_at",
    "updated_at",
    "status_at",
    "status_event_id",
    "stripe_seen_at",
    "stripe_seen_event",
    "lines_fetched_at",
    "built_at",
    "run",
}


def _rows(queryset, key):
    rows = []
    for row in queryset:
        values = model_to_dict(row)
        values.update(
            {f.attname: getattr(row, f.attname) for f in row._meta.concrete_fields}
        )
        rows.append({k: v for k, v in values.items() if k not in NOT_BOOKS})
    return sorted(rows, key=lambda r: str(r[key]))


def books() -> dict:
    payments = {
        p.pk: p.stripe_payment_intent or p.stripe_charge_id
        for p in Payment.objects.all()
    }

    def by_payment(rows):
        for row in rows:
            row["payment"] = row["payment_id"] = payments.get(row.get("payment_id"))
        return rows

    return {
        "payments": _rows(Payment.objects.all(), "stripe_charge_id"),
        "refunds": by_payment(_rows(Refund.objects.all(), "stripe_refund_id")),
        "disputes": by_payment(_rows(Dispute.objects.all(), "stripe_dispute_id")),
        "bts": _rows(BalanceTransaction.objects.all(), "stripe_id"),
        "payouts": _rows(Payout.objects.all(), "stripe_payout_id"),
        "subscriptions": _rows(Subscription.objects.all(), "stripe_subscription_id"),
        "daily": _rows(DailySnapshot.objects.all(), "day"),
        "mrr": _rows(MrrDailySnapshot.objects.all(), "day"),
    }


def _diff(a, b):
    out = []
    for name in a:
        if a[name] == b[name]:
            continue
        if len(a[name]) != len(b[name]):
            out.append(f"{name}: {len(a[name])} rows vs {len(b[name])}")
            continue
        for x, y in zip(a[name], b[name], strict=True):
            if x != y:
                keys = [k for k in x if x[k] != y.get(k)]
                out.append(
                    f"{name} {x.get('day', '')}: {[(k, x[k], y.get(k)) for k in keys]}"
                )
    return out


def _but_mrr(rows: dict) -> dict:
    return {name: value for name, value in rows.items() if name != "mrr"}


def _history() -> list[str]:
    """The sample's events of its first MONTHS months."""
    lines = SAMPLE.read_text().splitlines()
    start = min(json.loads(line)["created"] for line in lines)
    end = start + MONTHS * 30 * 86400
    return [line for line in lines if json.loads(line)["created"] < end]


def _export(tmp_path, events: list[dict]) -> Path:
    """The history as object lists, balance transactions as the live path
    recorded them (each naming its payout, as Sigma's export does)."""
    directory = tmp_path / "export"
    lists = objects_from_events(events)
    lists["balance_transactions"] = [
        _bt_object(bt, payout=bt.payout_stripe_id or None)
        for bt in BalanceTransaction.objects.order_by("-stripe_created", "-stripe_id")
    ]
    write_lists(lists, directory)
    return directory


@pytest.mark.django_db(transaction=True)
def test_object_lists_give_the_live_books_again_and_resume(tmp_path, settings):
    lines = _history()
    stripe_history_import(lines=lines, actor_label="test")
    live = books()
    directory = _export(tmp_path, [json.loads(line) for line in lines])
    call_command("flush", "--noinput")

    stopped = stripe_objects_import(
        source=DirSource(directory), actor_label="test", stop_after_pages=12
    )
    assert not stopped.backfill.finished
    assert HistoryCheckpoint.objects.filter(finished_at=None).exists()
    done = stripe_objects_import(source=DirSource(directory), actor_label="test")
    assert done.backfill.finished and done.backfill.resumed
    backfilled = books()
    assert _diff(_but_mrr(live), _but_mrr(backfilled)) == []
    # MRR from invoices: a plan change made between two invoices counts from the
    # next one (README), so only the days between differ; the end agrees.
    assert live["mrr"][-1]["mrr_pennies"] == backfilled["mrr"][-1]["mrr_pennies"]

    events_before = StripeEvent.objects.count()
    again = stripe_objects_import(source=DirSource(directory), actor_label="test")
    assert again.summary.totals["new"] == 0
    assert StripeEvent.objects.count() == events_before
    assert _diff(backfilled, books()) == []

    # The same lists from Stripe's API: the same books, every 429 waited out.
    call_command("flush", "--noinput")
    settings.PAYMENTS_USE_STRIPE = True
    settings.STRIPE_SECRET_KEY = "sk_test_history"
    http = StripeListsHTTPClient(directory)
    slept = []
    done = stripe_objects_import(
        source=ApiSource(StripeGateway(http_client=http, sleep=slept.append)),
        actor_label="test",
        settle=False,
    )
    assert done.backfill.finished
    assert _diff(backfilled, books()) == []
    assert slept == [1.0] * len(http.limited)  # one wait per list, then served
    pages = [q for resource, q in http.asked if resource == "payment_intents"]
    assert pages[-1]["starting_after"] and pages[-1]["limit"] == "100"


@pytest.mark.django_db
def test_the_backfill_runs_as_a_job_and_says_what_it_read(tmp_path):
    lines = _history()[:400]
    events = [json.loads(line) for line in lines]
    directory = tmp_path / "export"
    write_lists(objects_from_events(events), directory)
    counts = import_stripe_history_task(from_dir=str(directory))
    assert counts["objects"]["charges"] == sum(
        1 for line in directory.joinpath("charges.jsonl").open()
    )
    assert counts["new_events"] > 0
    intents = map(json.loads, directory.joinpath("payment_intents.jsonl").open())
    assert Payment.objects.count() == sum(i["status"] == "succeeded" for i in intents)
    job = AuditLog.objects.get(event_type="job.import_stripe_history")
    assert job.metadata["outcome"] == "ran"


def test_the_shipped_object_lists_are_the_sample_years_objects(tmp_path):
    """docs/samples/merchant_year_objects/ is what scripts/objects_from_events.py
    makes of the sample year, and merchant_last_30_days.jsonl its last 30 days."""
    lines = SAMPLE.read_text().splitlines()
    write_lists(objects_from_events(map(json.loads, lines)), tmp_path)
    shipped = SAMPLE.parent / "merchant_year_objects"
    assert sorted(p.name for p in shipped.iterdir()) == sorted(
        p.name for p in tmp_path.iterdir()
    )
    for made in tmp_path.iterdir():
        assert (shipped / made.name).read_bytes() == made.read_bytes(), made.name
    last = max(json.loads(line)["created"] for line in lines)
    recent = [line for line in lines if json.loads(line)["created"] > last - 30 * 86400]
    tail = (SAMPLE.parent / "merchant_last_30_days.jsonl").read_text().splitlines()
    assert tail == recent
