"""Webhook handlers, one per Stripe event type, registered in HANDLERS.

A handler takes the event payload (a plain dict, never a StripeObject) and writes
the ledger through payments.services. It raises NotYet(awaiting=<stripe id>) when
the event cannot apply before another object is known (a refund before its
payment), and may return Woken(ids) to wake events waiting for those ids.
"""

from payments.handlers import charges, checkout, disputes, intents, refunds
from payments.handlers.outcomes import NotYet, Woken
from payments.services.settlement import payout_event

HANDLERS = {
    "payment_intent.succeeded": intents.succeeded,
    "payment_intent.payment_failed": intents.payment_failed,
    "payment_intent.canceled": intents.canceled,
    "payment_intent.processing": intents.processing,
    "charge.succeeded": charges.succeeded,
    "charge.refunded": charges.refunded,
    "charge.refund.updated": refunds.upsert,
    "refund.created": refunds.upsert,
    "refund.updated": refunds.upsert,
    "refund.failed": refunds.upsert,
    "charge.dispute.created": disputes.upsert,
    "charge.dispute.updated": disputes.upsert,
    "charge.dispute.closed": disputes.upsert,
    "charge.dispute.funds_withdrawn": disputes.funds_withdrawn,
    "charge.dispute.funds_reinstated": disputes.funds_reinstated,
    "checkout.session.completed": checkout.completed,
    "checkout.session.expired": checkout.expired,
    "checkout.session.async_payment_succeeded": checkout.completed,
    "checkout.session.async_payment_failed": checkout.async_payment_failed,
    # Money to the bank: the payout's newest state (its lines: settlement_sync).
    "payout.created": payout_event,
    "payout.updated": payout_event,
    "payout.paid": payout_event,
    "payout.failed": payout_event,
    "payout.canceled": payout_event,
    "payout.reconciliation_completed": payout_event,
}

__all__ = ["HANDLERS", "NotYet", "Woken"]
