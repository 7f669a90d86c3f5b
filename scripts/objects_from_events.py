#!/usr/bin/env python
"""Stripe's object lists for a history of events: what `GET /v1/charges`, … would
list after those events, one JSON-lines file per list, newest first.

    scripts/objects_from_events.py EVENTS.jsonl OUT_DIR

Each object is its newest state (the last event of it by Stripe time, the file's
order breaking ties; a deleted subscription stays deleted); invoice payments are
listed inside their invoice (`payments`, as `expand[]=data.payments` gives them);
prices are those the subscriptions' items carry. Django-free: the shipped sample
(docs/samples/) and the backfill tests both use it. Balance transactions are not
events: the caller adds `balance_transactions.jsonl`.
"""

import json
import sys
from collections.abc import Iterable
from pathlib import Path

RESOURCE_OF = {
    "payment_intent": "payment_intents",
    "charge": "charges",
    "refund": "refunds",
    "dispute": "disputes",
    "invoice": "invoices",
    "subscription": "subscriptions",
    "payout": "payouts",
    "customer": "customers",
    "price": "prices",
}


def objects_from_events(events: Iterable[dict]) -> dict[str, list[dict]]:
    """Every list's objects, newest first (by `created`, then id, as Stripe's)."""
    newest: dict[tuple[str, str], tuple[int, int, dict]] = {}
    payments: dict[str, dict[str, tuple[int, int, dict]]] = {}
    for order, event in enumerate(events):
        obj = event["data"]["object"]
        kind, at = obj.get("object"), event["created"]
        if kind == "invoice_payment":
            invoice = obj.get("invoice")
            seen = payments.setdefault(invoice, {}).get(obj["id"])
            if seen is None or (at, order) > seen[:2]:
                payments[invoice][obj["id"]] = (at, order, obj)
            continue
        resource = RESOURCE_OF.get(kind)
        if resource is None:
            continue
        key = (resource, obj["id"])
        seen = newest.get(key)
        ended = seen is not None and seen[2].get("status") == "canceled"
        if resource == "subscriptions" and ended:
            continue
        if seen is None or (at, order) >= seen[:2]:
            newest[key] = (at, order, obj)
        if resource == "subscriptions":
            for item in (obj.get("items") or {}).get("data") or []:
                price = item.get("price")
                if isinstance(price, dict):
                    newest[("prices", price["id"])] = (0, 0, price)
    lists: dict[str, list[dict]] = {}
    for (resource, _), (_, _, obj) in newest.items():
        if resource == "invoices" and obj["id"] in payments:
            listed = [p for _, _, p in sorted(payments[obj["id"]].values())]
            obj = dict(obj, payments={"object": "list", "data": listed})
        lists.setdefault(resource, []).append(obj)
    for objects in lists.values():
        objects.sort(key=lambda o: (o.get("created") or 0, o["id"]), reverse=True)
    return lists


def write_lists(lists: dict[str, list[dict]], directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for resource, objects in sorted(lists.items()):
        with (directory / f"{resource}.jsonl").open("w", encoding="utf-8") as out:
            for obj in objects:
                out.write(json.dumps(obj, sort_keys=True) + "\n")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: scripts/objects_from_events.py EVENTS.jsonl OUT_DIR")
        return 2
    with open(argv[0], encoding="utf-8") as handle:
        events = [json.loads(line) for line in handle if line.strip()]
    write_lists(objects_from_events(events), Path(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
