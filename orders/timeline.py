"""The ops order timeline in words: what happened, who did it, and the amounts.

Status changes, the order's audit rows, its internal notes and the emails sent
about it (core.Message: kind, recipient, sent or failed), merged oldest first.
An audit row that only repeats a status change (``order.<status>``) is left out;
the rest are named here, one table, with the amount where the row carries one.
"""

from dataclasses import dataclass
from datetime import datetime

from audit.selectors import audit_for_target
from core.mail import kind_label, messages_for_target
from core.models import Message
from core.money import format_money
from orders.models import Order
from orders.shipping import carrier_name

TITLES = {
    "order.placed": "Order placed",
    "order.payment_changed": "The order's payment changed",
    "order.refund_status": "Refund status updated",
    "payment.checkout_started": "Checkout started",
    "payment.checkout_opened": "Payment page opened",
    "payment.recorded": "Payment recorded",
    "payment.failed": "Payment failed",
    "payment.canceled": "Payment canceled",
    "refund.requested": "Refund requested",
    "refund.created": "Refund created",
    "refund.failed": "Refund failed",
    "refund.request_made_after_refusal": "Refund requested again after a refusal",
    "payment_exception.opened": "Payment case opened",
    "payment_exception.closed": "Payment case closed",
}
# Rows the timeline shows otherwise: a note is shown as the note itself.
SHOWN_OTHERWISE = {"order.noted"}
STATUS_WORDS = {
    "pending": "Placed, awaiting payment",
    "paid": "Paid",
    "fulfilled": "Fulfilled",
    "canceled": "Canceled",
}


@dataclass(frozen=True)
class Entry:
    at: datetime
    title: str
    who: str
    detail: str = ""
    kind: str = "event"


def _amount(metadata: dict) -> str:
    for key in ("amount_pennies", "refunded_pennies"):
        if isinstance(metadata.get(key), int):
            return format_money(metadata[key], metadata.get("currency"))
    return ""


def _refunded_what(meta: dict, skus: dict[int, str]) -> str:
    """'1 × OAT-L, shipping' for a refund by line; '' for a free amount."""
    lines = meta.get("lines")
    if not isinstance(lines, dict):  # other rows count their lines
        return ""
    what = [
        f"{units} × {skus.get(int(variant), 'a line')}"
        for variant, units in lines.items()
    ]
    if meta.get("shipping_pennies"):
        what.append("shipping")
    return ", ".join(what)


def _audit_entry(row, skus: dict[int, str]) -> Entry | None:
    kind = row.event_type
    if kind in SHOWN_OTHERWISE or (
        kind.startswith("order.") and kind[6:] in STATUS_WORDS
    ):
        return None
    title = TITLES.get(kind, kind.replace("_", " ").replace(".", ": "))
    meta = row.metadata or {}
    parts = [
        p
        for p in (_amount(meta), _refunded_what(meta, skus), meta.get("reason") or "")
        if p
    ]
    if kind == "order.refund_status" and meta.get("refund_status"):
        parts.append(f"now {meta['refund_status']}")
    who = row.actor_label + (f" ({row.actor_role})" if row.actor_role else "")
    return Entry(row.created_at, title, who, " · ".join(parts))


def _status_entry(change, order: Order) -> Entry:
    title = STATUS_WORDS.get(change.to_status, change.to_status)
    detail = change.note
    if change.to_status == "fulfilled" and (order.carrier or order.tracking_reference):
        shipped = " ".join(
            p for p in (carrier_name(order.carrier), order.tracking_reference) if p
        )
        detail = f"shipped with {shipped}" if not detail else f"{detail} · {shipped}"
    who = change.actor.email if change.actor else change.by
    return Entry(change.created_at, title, who, detail, kind="status")


def _message_entry(message: Message) -> Entry:
    if message.status == Message.Status.SENT:
        outcome = "sent"
    elif message.status == Message.Status.FAILED:
        outcome = f"failed after {message.attempts} tries"
        if message.last_error:
            outcome += f" ({message.last_error[:120]})"
    else:
        outcome = "queued"
    return Entry(
        message.sent_at or message.created_at,
        f"Email: {kind_label(message.kind)}",
        "mail",
        f"to {message.recipient} · {outcome}",
        kind="message",
    )


def order_timeline(order: Order) -> list[Entry]:
    changes = order.status_changes.all()  # prefetched with their actors
    entries = [_status_entry(c, order) for c in changes]
    skus = {line.variant_id: line.sku for line in order.lines.all()}  # prefetched
    entries += [
        e for row in audit_for_target(target=order) if (e := _audit_entry(row, skus))
    ]
    entries += [
        Entry(
            n.created_at,
            "Internal note",
            n.author.email if n.author else "staff",
            n.body,
            kind="note",
        )
        for n in order.notes.all()  # prefetched with their authors
    ]
    # Read with the order by ops_order_get (one query, however many messages).
    messages = getattr(order, "sent_messages", None)
    if messages is None:
        messages = messages_for_target(order)
    entries += [_message_entry(m) for m in messages]
    return sorted(entries, key=lambda e: e.at)
