"""The money-to-the-bank checks (issue 15): each bad condition, made through the
offline Stripe pipeline, opens its issue, and the issue resolves once it is fixed."""

import datetime as dt
from fractions import Fraction

import pytest
import time_machine
from django.db.models import F

from monitoring.models import DataQualityIssue
from monitoring.services import checks_run
from payments.gateway import OfflineGateway
from payments.models import BalanceTransaction, Payment, Payout
from payments.services.settlement import payout_difference, payouts_reconciled
from payments.services.settlement_sync import settlement_run
from payments.tests.offline_books import charge_bt, pay_order, settle, uk_fee

pytestmark = pytest.mark.django_db

UTC = dt.UTC
DAY0 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday; London on GMT


def _at(n, hour=10):
    return DAY0.replace(hour=hour) + dt.timedelta(days=n)


def _open(name):
    checks_run(only=[name])
    return list(
        DataQualityIssue.objects.filter(
            check_name=name, status__in=["open", "acknowledged"]
        )
    )


def _resolved(name):
    return (
        _open(name) == []
        and DataQualityIssue.objects.filter(check_name=name, status="resolved").exists()
    )


# -- payout_lines_mismatch -----------------------------------------------------------


def test_a_payout_whose_lines_do_not_add_up_is_an_issue_until_restored(run, customer):
    with time_machine.travel(_at(0), tick=False):
        order = pay_order(run, customer)
    settle(run, _at(2, 1))  # the payout made
    settle(run, _at(3, 1))  # paid and its lines listed
    payout = Payout.objects.get()
    assert payout.lines_fetched_at is not None
    assert _open("payout_lines_mismatch") == []

    line = charge_bt(order)
    line.net_pennies += 7
    line.save(update_fields=["net_pennies"])
    [issue] = _open("payout_lines_mismatch")
    assert issue.severity == "critical"
    assert issue.evidence["payout"] == payout.stripe_payout_id
    net = order.total_pennies - uk_fee(order.total_pennies)
    assert issue.evidence["amount"] == payout.amount_pennies == net
    assert issue.evidence["lines_net"] == net + 7
    assert issue.evidence["difference"] == -7
    assert payout.stripe_payout_id in issue.message

    line.net_pennies -= 7
    line.save(update_fields=["net_pennies"])
    assert _resolved("payout_lines_mismatch")


def test_a_payout_not_yet_listed_is_not_a_mismatch(run, customer):
    with time_machine.travel(_at(0), tick=False):
        pay_order(run, customer)
    settle(run, _at(2, 1))  # made, pending: Stripe lists nothing yet
    payout = Payout.objects.get()
    assert payout.lines_fetched_at is None
    assert _open("payout_lines_mismatch") == []


# -- payout_failed -----------------------------------------------------------------


def test_a_failed_payout_is_an_issue_until_the_next_payout_pays_its_funds(
    run, customer
):
    with time_machine.travel(_at(0), tick=False):
        order = pay_order(run, customer)
    settle(run, _at(2, 1))
    failed = Payout.objects.get()
    assert _open("payout_failed") == []
    with time_machine.travel(_at(2, 12), tick=False):
        run(OfflineGateway().fail_payout, payout_id=failed.stripe_payout_id)
    [issue] = _open("payout_failed")
    assert issue.severity == "critical"
    assert issue.evidence["payout"] == failed.stripe_payout_id
    assert issue.evidence["status"] == "failed"
    assert issue.evidence["failure_code"] == "account_closed"
    # Day 3: a new payout carries the returned funds, but it has not arrived yet.
    settle(run, _at(3, 1))
    # The failed payout's own lines are listed and add up to what the bank returned.
    [reconciled] = payouts_reconciled(Payout.objects.filter(pk=failed.pk))
    assert reconciled.lines == 1 and payout_difference(reconciled) == 0
    assert charge_bt(order).payout_stripe_id == failed.stripe_payout_id
    again = Payout.objects.exclude(pk=failed.pk).get()
    assert again.status == "pending"
    assert again.amount_pennies == order.total_pennies - uk_fee(order.total_pennies)
    assert [i.pk for i in _open("payout_failed")] == [issue.pk]
    # Day 4: it is paid and its lines (the payout failure among them) listed.
    settle(run, _at(4, 1))
    again.refresh_from_db()
    assert again.status == "paid"
    assert _resolved("payout_failed")


# -- payment_without_balance_transaction ---------------------------------------------


def test_a_payment_without_balance_transaction_is_an_issue_only_after_the_grace(
    run, customer, settings
):
    grace = dt.timedelta(hours=settings.SETTLEMENT_GRACE_HOURS)
    with time_machine.travel(_at(0), tick=False):
        order = pay_order(run, customer)
    payment = Payment.objects.get(order=order)
    charge_bt(order).delete()  # Stripe's event carried only the id
    with time_machine.travel(payment.paid_at + grace - dt.timedelta(minutes=5)):
        assert _open("payment_without_balance_transaction") == []
    with time_machine.travel(payment.paid_at + grace + dt.timedelta(minutes=5)):
        [issue] = _open("payment_without_balance_transaction")
        assert issue.severity == "high"
        assert issue.evidence["charge"] == payment.stripe_charge_id
        assert issue.evidence["amount"] == order.total_pennies
        # The settlement sync gets it from Stripe: resolved.
        run(settlement_run)
        assert charge_bt(order).fee_pennies == uk_fee(order.total_pennies)
        assert _resolved("payment_without_balance_transaction")


def test_a_payment_with_its_balance_transaction_is_never_an_issue(
    run, customer, settings
):
    with time_machine.travel(_at(0), tick=False):
        pay_order(run, customer)
    later = _at(0) + dt.timedelta(hours=settings.SETTLEMENT_GRACE_HOURS * 2)
    with time_machine.travel(later):
        assert _open("payment_without_balance_transaction") == []


# -- fees_off_expected -------------------------------------------------------------


def _drift_bps(amount, fee, bps, fixed):
    """The day's drift from the expected pricing, exactly (a Fraction of a bps)."""
    expected = (Fraction(amount * bps, 10000) + Fraction(1, 2)).__floor__() + fixed
    return Fraction((fee - expected) * 10000, amount)


@pytest.fixture
def charged(run, customer):
    with time_machine.travel(_at(0), tick=False):
        return pay_order(run, customer, quantity=2)


def _fees_issues(when=None):
    with time_machine.travel(when or _at(3), tick=False):  # day 0 is in the window
        return _open("fees_off_expected")


def test_fees_at_the_expected_pricing_are_not_an_issue(charged, settings):
    assert settings.STRIPE_EXPECTED_FEE_BPS == 150  # the offline UK card pricing
    assert _fees_issues() == []


def test_a_pricing_change_beyond_the_tolerance_is_an_issue_until_it_matches(
    charged, settings
):
    amount = charged.total_pennies
    fee = charge_bt(charged).fee_pennies
    assert fee == uk_fee(amount)
    tolerance = settings.STRIPE_FEE_TOLERANCE_BPS
    fixed = settings.STRIPE_EXPECTED_FEE_FIXED_PENNIES
    # Expected pricing 0.5 % point above what Stripe charged beyond the tolerance.
    settings.STRIPE_EXPECTED_FEE_BPS = 150 + tolerance + 50
    drift = _drift_bps(amount, fee, settings.STRIPE_EXPECTED_FEE_BPS, fixed)
    assert abs(drift) > tolerance
    [issue] = _fees_issues()
    assert issue.severity == "medium"
    assert issue.evidence["day"] == str(DAY0.date())
    assert issue.evidence["gross"] == amount
    assert issue.evidence["fees"] == fee
    assert issue.evidence["expected"] == (
        (amount * settings.STRIPE_EXPECTED_FEE_BPS + 5000) // 10000 + fixed
    )
    # Within the tolerance (0.5 % point inside it): not an issue, the open one resolves.
    settings.STRIPE_EXPECTED_FEE_BPS = 150 + tolerance - 50
    assert abs(_drift_bps(amount, fee, settings.STRIPE_EXPECTED_FEE_BPS, fixed)) < (
        tolerance
    )
    assert _fees_issues() == []
    assert DataQualityIssue.objects.get(pk=issue.pk).status == "resolved"


@pytest.mark.parametrize("direction", [-1, +1])
def test_fees_above_or_below_the_pricing_well_beyond_the_tolerance_are_an_issue(
    charged, settings, direction
):
    """Stripe charging more than the pricing, or less, by the tolerance + 0.5 %."""
    amount = charged.total_pennies
    bt = charge_bt(charged)
    tolerance = settings.STRIPE_FEE_TOLERANCE_BPS
    pennies = amount * (tolerance + 50) // 10000
    BalanceTransaction.objects.filter(pk=bt.pk).update(
        fee_pennies=F("fee_pennies") + direction * pennies
    )
    drift = _drift_bps(amount, bt.fee_pennies + direction * pennies, 150, 20)
    assert abs(drift) > tolerance + 40
    [issue] = _fees_issues()
    assert issue.evidence["fees"] == bt.fee_pennies + direction * pennies
    assert (issue.evidence["drift_bps"] > 0) == (direction > 0)
    BalanceTransaction.objects.filter(pk=bt.pk).update(fee_pennies=bt.fee_pennies)
    assert _fees_issues() == []


def test_charges_outside_the_thirty_day_window_are_not_checked(charged, settings):
    settings.STRIPE_EXPECTED_FEE_BPS = 150 + settings.STRIPE_FEE_TOLERANCE_BPS + 50
    assert len(_fees_issues(_at(3))) == 1
    assert _fees_issues(_at(40)) == []


@pytest.mark.parametrize("direction", [-1, +1], ids=["fees-below", "fees-above"])
def test_a_drift_just_beyond_the_tolerance_is_caught_either_way(
    charged, settings, direction
):
    amount = charged.total_pennies
    bt = charge_bt(charged)
    tolerance = settings.STRIPE_FEE_TOLERANCE_BPS
    # The fewest pennies of drift that exceed the tolerance, and not a whole bps more.
    pennies = amount * tolerance // 10000 + 1
    assert tolerance < Fraction(pennies * 10000, amount) < tolerance + 1
    BalanceTransaction.objects.filter(pk=bt.pk).update(
        fee_pennies=F("fee_pennies") + direction * pennies
    )
    drift = _drift_bps(amount, bt.fee_pennies + direction * pennies, 150, 20)
    assert abs(drift) > tolerance
    assert len(_fees_issues()) == 1, f"drift {float(drift):+.2f} bps not caught"
