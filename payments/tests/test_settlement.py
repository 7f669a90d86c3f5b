"""Money to the bank: balance transactions, fees and payouts through the offline
Stripe pipeline (signed events to the webhook), and the settlement sync."""

import datetime as dt

import pytest
import time_machine

from payments.gateway import OfflineGateway
from payments.models import BalanceTransaction, Payment, Payout
from payments.services.refunds import refund_issue
from payments.services.settlement import (
    fee_totals,
    payments_without_bt,
    payout_difference,
    payout_lines,
    payouts_reconciled,
)
from payments.services.settlement_sync import settlement_run
from payments.tests.offline_books import card_fee, charge_bt, pay_order, settle

pytestmark = pytest.mark.django_db

UTC = dt.UTC
DAY0 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday, 10:00 UTC


@pytest.mark.parametrize(("country", "bps"), [("GB", 150), ("FR", 325)])
def test_a_card_payment_has_its_balance_transaction_at_the_card_pricing(
    run, customer, country, bps
):
    order = pay_order(run, customer, country=country)
    bt = charge_bt(order)
    assert bt.amount_pennies == order.total_pennies
    assert bt.fee_pennies == card_fee(order.total_pennies, bps)
    assert bt.net_pennies == bt.amount_pennies - bt.fee_pennies
    assert (bt.currency, bt.status, bt.reporting_category) == (
        "GBP",
        "pending",
        "charge",
    )
    # Available two days later, at 00:00 UTC.
    assert bt.available_on.time() == dt.time(0, 0)
    assert (bt.available_on.date() - bt.stripe_created.date()).days == 2
    assert not payments_without_bt().exists()


def test_a_refund_and_a_lost_dispute_have_theirs_and_the_dispute_fee_is_apart(
    run, customer, ops_user
):
    order = pay_order(run, customer)
    payment = Payment.objects.get(order=order)
    run(
        refund_issue,
        order=order,
        amount_pennies=1000,
        reason="",
        restock={},
        actor=ops_user,
        idempotency_key="settle-refund-1",
    )
    refund_bt = BalanceTransaction.objects.get(type="refund")
    assert (refund_bt.amount_pennies, refund_bt.fee_pennies) == (-1000, 0)
    assert refund_bt.charge_id == payment.stripe_charge_id
    run(
        OfflineGateway().open_dispute,
        charge=payment.stripe_charge_id,
        amount_pennies=order.total_pennies - 1000,
        currency="gbp",
        outcome="lost",
    )
    debit = BalanceTransaction.objects.get(reporting_category="dispute")
    assert debit.amount_pennies == -(order.total_pennies - 1000)
    assert debit.net_pennies == debit.amount_pennies - 1500
    totals = fee_totals(BalanceTransaction.objects.all())
    assert totals == {
        "stripe_fees": card_fee(order.total_pennies, 150),
        "dispute_fees": 1500,
    }


def test_a_won_dispute_gives_the_amount_back_but_not_the_fee(run, customer):
    order = pay_order(run, customer)
    charge = Payment.objects.get(order=order).stripe_charge_id
    run(
        OfflineGateway().open_dispute,
        charge=charge,
        amount_pennies=order.total_pennies,
        currency="gbp",
        outcome="won",
    )
    disputes = BalanceTransaction.objects.filter(charge_id=charge).exclude(
        type="charge"
    )
    assert sorted(disputes.values_list("reporting_category", "net_pennies")) == [
        ("dispute", -order.total_pennies - 1500),
        ("dispute_reversal", order.total_pennies),
    ]


def _day(n, hour=10):
    return DAY0.replace(hour=hour) + dt.timedelta(days=n)


def test_daily_payouts_pay_what_became_available_and_reconcile_to_the_penny(
    run, customer, ops_user
):
    with time_machine.travel(_day(0), tick=False):
        first = pay_order(run, customer)
    with time_machine.travel(_day(1), tick=False):
        second = pay_order(run, customer, country="US", quantity=2)
        run(
            refund_issue,
            order=first,
            amount_pennies=500,
            reason="",
            restock={},
            actor=ops_user,
            idempotency_key="settle-refund-2",
        )
    settle(run, _day(2, 1))  # the first charge became available at 00:00
    payout = Payout.objects.get()
    assert payout.status == "pending" and payout.lines_fetched_at is None
    assert payout.amount_pennies == charge_bt(first).net_pennies
    settle(run, _day(3, 1))  # paid (arrived), listed; a second payout made
    payout.refresh_from_db()
    assert payout.status == "paid" and payout.lines_fetched_at is not None
    assert list(payout_lines(payout.stripe_payout_id)) == [charge_bt(first)]
    second_payout = Payout.objects.exclude(pk=payout.pk).get()
    expected = charge_bt(second).net_pennies - 500  # the refund's debit
    assert second_payout.amount_pennies == expected
    settle(run, _day(4, 1))
    for row in payouts_reconciled():
        assert row.status == "paid"
        assert payout_difference(row) == 0
        assert row.lines_net_pennies == sum(
            payout_lines(row.stripe_payout_id).values_list("net_pennies", flat=True)
        )
    # A run repeated the same day makes nothing new.
    before = set(Payout.objects.values_list("stripe_payout_id", "status"))
    settle(run, _day(4, 2))
    assert set(Payout.objects.values_list("stripe_payout_id", "status")) == before


def test_a_failed_payout_is_paid_again_by_the_next_one(run, customer):
    with time_machine.travel(_day(0), tick=False):
        order = pay_order(run, customer)
    settle(run, _day(2, 1))
    payout = Payout.objects.get()
    with time_machine.travel(_day(2, 12), tick=False):
        run(OfflineGateway().fail_payout, payout_id=payout.stripe_payout_id)
    payout.refresh_from_db()
    assert (payout.status, payout.failure_code) == ("failed", "account_closed")
    settle(run, _day(3, 1))
    again = Payout.objects.exclude(pk=payout.pk).get()
    assert again.amount_pennies == charge_bt(order).net_pennies
    settle(run, _day(4, 1))
    again.refresh_from_db()
    lines = list(payout_lines(again.stripe_payout_id))
    assert [bt.type for bt in lines] == ["payout_failure"]
    assert lines[0].source_id == payout.stripe_payout_id
    assert payout_difference(payouts_reconciled().get(pk=again.pk)) == 0


def test_the_sync_fetches_a_missing_balance_transaction_and_never_twice(run, customer):
    order = pay_order(run, customer)
    bt = charge_bt(order)
    expected = (bt.stripe_id, bt.amount_pennies, bt.fee_pennies, bt.net_pennies)
    bt.delete()  # as if Stripe's event had carried only the id
    assert payments_without_bt().count() == 1
    counts = run(settlement_run)
    assert counts["recorded"] >= 1
    again = charge_bt(order)
    assert (
        again.stripe_id,
        again.amount_pennies,
        again.fee_pennies,
        again.net_pennies,
    ) == expected
    assert run(settlement_run)["recorded"] == 0
