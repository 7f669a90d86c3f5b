"""Integrity checks fail the gate; attention items are shown and counted, and fail
it only with --strict. Every amount reads in its own currency."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from catalog.tests.factories import VariantFactory
from monitoring.checks import ATTENTION, INTEGRITY, REGISTRY, checks_of_kind
from monitoring.models import DataQualityIssue
from monitoring.services import checks_run, open_counts
from orders.models import Order
from orders.tests.factories import place_order
from payments.models import Dispute, Payment
from payments.tests.events import dispute_event, intent_succeeded, post

pytestmark = pytest.mark.django_db

RUNBOOK = Path(settings.BASE_DIR) / "docs" / "runbook.md"


@pytest.fixture
def paid(client, customer):
    order = place_order(customer=customer, variants={VariantFactory(stock=10): 2})
    post(client, intent_succeeded(order))
    order.refresh_from_db()
    return order


@pytest.fixture
def disputed(client, paid):
    post(client, dispute_event("dp_kind", 1000))
    return paid


def test_the_split_is_disputes_and_stale_orders_for_ops_the_rest_integrity():
    assert checks_of_kind(ATTENTION) == [
        "stale_pending_orders",
        "open_disputes",
        "fees_off_expected",
    ]
    assert set(checks_of_kind(INTEGRITY)) == set(REGISTRY) - {
        "stale_pending_orders",
        "open_disputes",
        "fees_off_expected",
    }


def test_the_runbook_lists_every_check_with_its_kind():
    text = RUNBOOK.read_text()
    for name, check in REGISTRY.items():
        row = re.search(rf"^\| `{name}` \| (integrity|attention) \|", text, re.M)
        assert row, f"docs/runbook.md has no row for {name}"
        assert row.group(1) == check.kind, name


def test_an_open_dispute_is_counted_but_does_not_fail_the_gate(disputed, capsys):
    call_command("run_checks", "--fail-on-issues")
    out = capsys.readouterr().out
    assert "0 integrity issue(s) open, 1 attention item(s) open" in out
    assert re.search(r"^open_disputes\s+attention\s+high\s+1$", out, re.M)
    assert "attention open_disputes: Dispute dp_kind" in out


def test_strict_fails_on_an_attention_item(disputed):
    with pytest.raises(CommandError, match=r"1 attention item\(s\) open \(--strict\)"):
        call_command("run_checks", "--fail-on-issues", "--strict")
    Dispute.objects.update(status="won")
    call_command("run_checks", "--fail-on-issues", "--strict")


def test_an_integrity_issue_fails_the_gate_with_or_without_strict(disputed):
    Order.objects.filter(pk=disputed.pk).update(refunded_pennies=500)
    for flags in (["--fail-on-issues"], ["--fail-on-issues", "--strict"]):
        with pytest.raises(CommandError, match=r"^1 integrity issue\(s\) open$"):
            call_command("run_checks", *flags)
    assert open_counts() == {
        INTEGRITY: {"order_refunds_mismatch": 1},
        ATTENTION: {"open_disputes": 1},
    }


def test_cli_mistakes_are_one_line_and_exit_2(paid):
    for args, message in (
        (["--check", "nope"], "unknown check(s): nope"),
        (["--strict"], "--strict only changes --fail-on-issues"),
    ):
        with pytest.raises(CommandError, match=re.escape(message)) as error:
            call_command("run_checks", *args)
        assert error.value.returncode == 2
    assert not DataQualityIssue.objects.exists()  # nothing ran


def test_a_mistyped_flag_from_the_shell_is_one_line_and_exit_2():
    run = subprocess.run(
        [sys.executable, "manage.py", "run_checks", "--fail-on-isues"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 2
    assert run.stderr.strip().count("\n") == 0, run.stderr
    assert "unrecognized arguments: --fail-on-isues" in run.stderr


def test_a_usd_dispute_reads_in_dollars(client, customer):
    order = place_order(customer=customer, variants={VariantFactory(stock=3): 1})
    post(client, intent_succeeded(order))
    post(client, dispute_event("dp_usd", 1000))
    Dispute.objects.update(currency="USD")  # a charge in dollars, disputed
    checks_run(only=["open_disputes"])
    issue = DataQualityIssue.objects.get(check_name="open_disputes")
    assert "for $10.00 is needs_response" in issue.message
    assert "£" not in issue.message
    assert (issue.evidence["amount"], issue.evidence["currency"]) == (1000, "USD")


def test_a_payment_not_applied_reads_in_its_currency(client, customer):
    order = place_order(customer=customer, variants={VariantFactory(stock=3): 1})
    post(client, intent_succeeded(order))
    Payment.objects.filter(order=order).update(
        applied=False, problem="currency_mismatch", currency="EUR"
    )
    checks_run(only=["payment_not_applied"])
    issue = DataQualityIssue.objects.get(check_name="payment_not_applied")
    assert "€" in issue.message and "£" not in issue.message


def test_monitoring_labels_each_issue_with_its_kind(client, disputed, ops_user):
    Order.objects.filter(pk=disputed.pk).update(refunded_pennies=500)
    checks_run()
    client.force_login(ops_user)
    page = client.get(reverse("monitoring:issues")).content.decode()
    assert "1</strong> integrity issue open" in page
    assert "1</strong> attention item open" in page
    assert page.index(">Integrity</span>") < page.index(">Needs attention</span>")
    only = client.get(reverse("monitoring:issues"), {"kind": "attention"})
    body = only.content.decode()
    assert "dp_kind" in body and "<td><code>order_refunds_mismatch" not in body


def test_monitoring_says_the_checks_never_ran_rather_than_all_is_well(
    client, paid, ops_user
):
    client.force_login(ops_user)
    page = client.get(reverse("monitoring:issues")).content.decode()
    assert "The checks have not run yet" in page
    assert "looked right" not in page
    checks_run()
    page = client.get(reverse("monitoring:issues")).content.decode()
    assert "the books and the pipeline looked right at the last check" in page


def test_a_dispute_awaiting_a_response_greets_ops_not_all_is_well(
    client, disputed, ops_user
):
    checks_run()
    client.force_login(ops_user)
    page = client.get(reverse("monitoring:issues")).content.decode()
    assert "dp_kind" in page and "needs_response" in page
    assert "looked right" not in page and "have not run" not in page
    # Filtered to nothing, the page says only that: the dispute is still open.
    none = client.get(reverse("monitoring:issues"), {"kind": "integrity"})
    body = none.content.decode()
    assert "No issues match these filters" in body and "looked right" not in body
