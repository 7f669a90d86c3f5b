"""Reading Stripe objects defensively: shapes differ by API version and source.

Branch on which fields are present, never on `api_version` (the samples in
../shared/stripe_events show labels that do not match shapes).
"""

import datetime as dt

from orders.models import Order


def ts(value) -> dt.datetime | None:
    if isinstance(value, int | float) and value > 0:
        return dt.datetime.fromtimestamp(int(value), tz=dt.UTC)
    return None


def event_time(payload: dict) -> dt.datetime:
    return ts(payload["created"])


def text(obj: dict, key: str) -> str:
    value = obj.get(key)
    if isinstance(value, dict):  # an expanded object: its id
        value = value.get("id")
    return value if isinstance(value, str) else ""


def amount(obj: dict, *keys: str) -> int:
    for key in keys:
        value = obj.get(key)
        if isinstance(value, int) and value > 0:
            return value
    value = obj.get(keys[-1]) if keys else None
    return value if isinstance(value, int) else 0


def currency(obj: dict) -> str:
    value = obj.get("currency")
    return value.upper()[:3] if isinstance(value, str) else ""


def listed(obj: dict, key: str) -> list[dict]:
    """`obj[key].data` as a list of dicts; {} or a missing key give []."""
    container = obj.get(key)
    if isinstance(container, dict):
        data = container.get("data")
        return (
            [d for d in data if isinstance(d, dict)] if isinstance(data, list) else []
        )
    if isinstance(container, list):
        return [d for d in container if isinstance(d, dict)]
    return []


def charge_of_intent(intent: dict) -> str:
    """`latest_charge` (2022-11-15 on), else the newest of `charges.data`."""
    if "latest_charge" in intent:
        return text(intent, "latest_charge")
    charges = listed(intent, "charges")
    succeeded = [c for c in charges if c.get("status") == "succeeded"] or charges
    return text(succeeded[0], "id") if succeeded else ""


def payment_intent_id(obj: dict) -> str:
    value = text(obj, "payment_intent")
    return value if value.startswith("pi_") else ""


def invoice_subscription(invoice: dict) -> str:
    """The invoice's subscription, before and after API 2025-03-31 ("basil")."""
    direct = text(invoice, "subscription")
    if direct:
        return direct
    parent = invoice.get("parent") if isinstance(invoice.get("parent"), dict) else {}
    details = parent.get("subscription_details")
    if isinstance(details, dict) and text(details, "subscription"):
        return text(details, "subscription")
    for line in listed(invoice, "lines"):
        line_parent = line.get("parent") if isinstance(line.get("parent"), dict) else {}
        item = line_parent.get("subscription_item_details")
        if isinstance(item, dict) and text(item, "subscription"):
            return text(item, "subscription")
        if text(line, "subscription"):
            return text(line, "subscription")
    return ""


def order_for(*objs: dict) -> Order | None:
    """Our order named by `metadata.order_id` (or `client_reference_id`). When the
    metadata also gives an `order_number` (ours always does), it must be that
    order's: another shop's `order_id` in a merchant's older history (WooCommerce's
    plugin writes one too) never claims our order of the same id."""
    for obj in objs:
        metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        number = metadata.get("order_number")
        for raw in (metadata.get("order_id"), obj.get("client_reference_id")):
            if isinstance(raw, str | int) and str(raw).isdigit():
                order = Order.objects.filter(pk=int(raw)).first()
                if order is not None and number in (None, "", order.number):
                    return order
    return None


def newest_wins(
    *,
    new: tuple[dt.datetime, str],
    old: tuple[dt.datetime, str],
    ranks: dict[str, int],
    new_id: str = "",
    old_id: str = "",
) -> bool:
    """Whether Stripe state `new` (its Stripe time, its status) replaces `old`.

    The one rule by which every Stripe object's newest state wins, whatever order
    events arrive in: the later Stripe time; for two states stamped the same second,
    the later one in the object's life (`ranks`); then the larger event id, so even
    a tie has one answer. A replay of the same state wins (it changes nothing)."""
    return (new[0], ranks.get(new[1], 0), new_id) >= (
        old[0],
        ranks.get(old[1], 0),
        old_id,
    )
