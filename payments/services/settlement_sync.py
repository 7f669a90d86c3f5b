"""The settlement sync: what the ledger misses of Stripe's balance, asked of Stripe.

Outside any transaction and lock (the gateway refuses otherwise): each answer is
written in a short transaction of its own by `payments.services.settlement`, so the
webhook path never reaches the gateway. What Stripe has not made yet stays missing
and the next run (every 5 minutes, payments.settlement_sync) asks again.
"""

import logging
from collections.abc import Callable

import stripe
from django.db import transaction

from payments.gateway import OfflineGateway, get_gateway
from payments.services.settlement import (
    bt_record,
    disputes_without_bt,
    payments_without_bt,
    payout_lines_apply,
    payouts_to_list,
    refunds_without_bt,
)
from payments.stripe_fields import text

logger = logging.getLogger(__name__)


def _refused(what: str, exc: Exception, counts: dict) -> None:
    counts["errors"] += 1
    logger.warning(
        "settlement sync: Stripe refused %s (%s: %s); asked again next run",
        what,
        type(exc).__name__,
        str(exc)[:200],
    )


def _record_all(found: list[tuple[dict, str]]) -> int:
    with transaction.atomic():
        return sum(
            1
            for obj, charge in sorted(found, key=lambda f: text(f[0], "id"))
            if bt_record(obj, charge=charge) is not None
        )


def settlement_sync(
    *,
    gateway=None,
    limit: int = 1000,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, int]:
    """Ask Stripe for every missing balance transaction and the lines of every paid
    payout not yet listed; write each answer in a short transaction. Never inside a
    transaction or under a lock (the gateway refuses). Returns counts per kind:
    asked, recorded and still missing (Stripe has not made it yet)."""
    gateway = gateway or get_gateway()
    counts = {
        "payouts_listed": 0,
        "lines": 0,
        "recorded": 0,
        "still_missing": 0,
        "errors": 0,
    }
    work: list[tuple[str, Callable[[], list[tuple[dict, str]] | None]]] = []
    for charge in payments_without_bt().values_list("stripe_charge_id", flat=True)[
        :limit
    ]:
        work.append(
            (
                "charge",
                lambda c=charge: _one(gateway.charge_balance_transaction(charge=c), c),
            )
        )
    for refund, charge in refunds_without_bt().values_list(
        "stripe_refund_id", "stripe_charge_id"
    )[:limit]:
        work.append(
            (
                "refund",
                lambda r=refund, c=charge: _one(
                    gateway.refund_balance_transaction(refund=r), c
                ),
            )
        )
    for dispute, charge in disputes_without_bt().values_list(
        "stripe_dispute_id", "stripe_charge_id"
    )[:limit]:
        work.append(
            (
                "dispute",
                lambda d=dispute, c=charge: (
                    [(bt, c) for bt in gateway.dispute_balance_transactions(dispute=d)]
                    or None
                ),
            )
        )
    payouts = list(payouts_to_list().values_list("stripe_payout_id", flat=True)[:limit])
    total = len(work) + len(payouts)
    done = 0
    for kind, fetch in work:
        try:
            found = fetch()
        except stripe.StripeError as exc:  # one answer lost: asked again next run
            _refused(kind, exc, counts)
            found = None
            counts["still_missing"] -= 1
        if found:
            counts["recorded"] += _record_all(found)
        else:
            counts["still_missing"] += 1
        done += 1
        if progress:
            progress("balance transactions", done, total)
    for payout_id in payouts:
        done += 1
        try:
            lines = gateway.payout_balance_transactions(payout=payout_id)
        except stripe.StripeError as exc:
            _refused(f"payout {payout_id}", exc, counts)
            continue
        counts["lines"] += payout_lines_apply(payout_id=payout_id, lines=lines)
        counts["payouts_listed"] += 1
        if progress:
            progress("payouts", done, total)
    return counts


def settlement_run(*, progress=None) -> dict[str, int]:
    """The scheduled run: with offline payments the simulator's daily payouts first
    (Stripe makes them on its own), then `settlement_sync`."""
    gateway = get_gateway()
    if isinstance(gateway, OfflineGateway):
        gateway.run_payouts()  # delivered at once: no transaction is open
    return settlement_sync(gateway=gateway, progress=progress)


def _one(bt: dict | None, charge: str) -> list[tuple[dict, str]] | None:
    return [(bt, charge)] if isinstance(bt, dict) else None
