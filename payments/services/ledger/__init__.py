"""The payment ledger: the one writer of Payment, Refund and Dispute rows and of the
order fields that follow from them (ARCHITECTURE.md, the money path).

Order money fields are recomputed from the ledger (never incremented per event) and
every Stripe object's newest state wins by one rule (`stripe_fields.newest_wins`),
so any order of events, with any repeats, ends in the same books. Every writer takes
its locks in the order of `payments/locks.py`.
"""

from payments.services.ledger.cases import STRIPE, exception_raise
from payments.services.ledger.disputes import DISPUTE_STATUS_RANK, dispute_record
from payments.services.ledger.payments import (
    customer_for,
    payment_charge_attach,
    payment_processing,
    payment_record,
    payments_settle,
)
from payments.services.ledger.refunds import (
    REFUND_STATUS_RANK,
    order_sync_refunds,
    refund_record,
    refund_status,
)

__all__ = [
    "DISPUTE_STATUS_RANK",
    "REFUND_STATUS_RANK",
    "STRIPE",
    "customer_for",
    "dispute_record",
    "exception_raise",
    "order_sync_refunds",
    "payment_charge_attach",
    "payment_processing",
    "payment_record",
    "payments_settle",
    "refund_record",
    "refund_status",
]
