"""The one lock order of the money path, written once.

Every path that writes the ledger — the webhook, ops refunds, checkout, reprocessing,
imports — takes row locks in this order, each table's rows in primary-key order:

    StripeEvent (the inbox row) → Subscription → Order → Payment → Refund → Dispute
    → Variant → Payout → BalanceTransaction

so two transactions can wait for each other but never deadlock (Saleor's
`lock_objects.py` is the model). A writer that must find a row through another (a
refund's payment, a payment's order) reads it first without a lock, then locks in
this order and re-reads. Variants are locked by `catalog.services.stock`, the last
of the order path; payouts and balance transactions come after everything (they are
written after the event's handler, and the settlement sync locks nothing else).
No network call is made while any of these locks is held.
"""

from collections.abc import Iterable

from django.db.models import Q

from orders.models import Order
from payments.models import BalanceTransaction, Dispute, Payment, Payout, Refund


def lock_order(pk: int) -> Order:
    """The order row, locked."""
    return Order.objects.select_for_update(of=("self",)).get(pk=pk)


def lock_payments(pks: Iterable[int]) -> list[Payment]:
    """These payment rows, locked in primary-key order."""
    return list(
        Payment.objects.select_for_update(of=("self",))
        .filter(pk__in=sorted(set(pks)))
        .order_by("pk")
    )


def lock_order_payments(order: Order) -> list[Payment]:
    """Every payment of a locked order, locked in primary-key order."""
    return list(
        Payment.objects.select_for_update(of=("self",))
        .filter(order_id=order.pk)
        .order_by("pk")
    )


def payment_lookup(*, payment_intent: str = "", charge: str = "") -> Q | None:
    condition = Q()
    if payment_intent:
        condition |= Q(stripe_payment_intent=payment_intent)
    if charge:
        condition |= Q(stripe_charge_id=charge)
    return condition or None


def lock_payment_and_order(
    *, payment_intent: str = "", charge: str = ""
) -> tuple[Order | None, Payment | None]:
    """The payment with these Stripe ids and its order, locked Order → Payment.

    The payment is found without a lock first (to learn its order), then the order
    and the payment are locked in that order and the payment re-read."""
    condition = payment_lookup(payment_intent=payment_intent, charge=charge)
    if condition is None:
        return None, None
    found = Payment.objects.filter(condition).order_by("pk").values("pk", "order_id")
    found = found.first()
    if found is None:
        return None, None
    order = lock_order(found["order_id"]) if found["order_id"] else None
    locked = lock_payments([found["pk"]])
    return order, (locked[0] if locked else None)


def lock_refund(stripe_refund_id: str) -> Refund | None:
    return (
        Refund.objects.select_for_update(of=("self",))
        .filter(stripe_refund_id=stripe_refund_id)
        .first()
    )


def lock_dispute(stripe_dispute_id: str) -> Dispute | None:
    return (
        Dispute.objects.select_for_update(of=("self",))
        .filter(stripe_dispute_id=stripe_dispute_id)
        .first()
    )


def lock_payout(stripe_payout_id: str) -> Payout | None:
    return (
        Payout.objects.select_for_update(of=("self",))
        .filter(stripe_payout_id=stripe_payout_id)
        .first()
    )


def lock_balance_transaction(stripe_id: str) -> BalanceTransaction | None:
    return (
        BalanceTransaction.objects.select_for_update(of=("self",))
        .filter(stripe_id=stripe_id)
        .first()
    )
