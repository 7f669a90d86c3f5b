"""For tests that take money to the bank through the offline Stripe pipeline: pay an
order (signed events to the webhook), run Stripe's payouts and the settlement sync,
find a charge's balance transaction, and the card pricing stated again, apart from
the code (payments/gateway/pricing.py), so a test holds the code to it."""

import time_machine

from catalog.tests.factories import VariantFactory
from orders.tests.factories import place_order
from payments.gateway import OfflineGateway
from payments.models import BalanceTransaction, Payment
from payments.services.settlement_sync import settlement_run


def card_fee(amount: int, bps: int = 150, fixed: int = 20) -> int:
    """amount × bps / 10,000 rounded half up, plus the fixed pennies."""
    return (amount * bps * 2 + 10000) // 20000 + fixed


def uk_fee(amount: int) -> int:
    """UK cards: 1.5 % + 20p."""
    return card_fee(amount, 150)


def pay_order(run, customer, *, quantity: int = 1, country: str = "GB"):
    """An order of one new variant, paid by card through the offline gateway."""
    order = place_order(
        customer=customer, variants={VariantFactory(stock=10): quantity}
    )
    if country != "GB":
        order.shipping_country = country
        order.save(update_fields=["shipping_country"])
    run(OfflineGateway().pay, order=order, session_id=f"cs_test_{order.pk}")
    order.refresh_from_db()
    assert order.status == "paid"
    return order


def settle(run, at) -> dict:
    """The scheduled run at `at`. Outside a test's transaction the payouts' events
    are delivered as they are made; here they are delivered first, then the run
    (whose own payouts step finds nothing left to do). Returns the sync's counts."""
    with time_machine.travel(at, tick=False):
        run(OfflineGateway().run_payouts)
        return run(settlement_run)


def charge_bt(order) -> BalanceTransaction:
    charge = Payment.objects.get(order=order).stripe_charge_id
    return BalanceTransaction.objects.get(charge_id=charge, type="charge")
