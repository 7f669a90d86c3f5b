"""The offline Stripe's pricing and settlement schedule (docs/decisions.md, "Balance
transactions and payouts"), in one place for the offline gateway and the sample
history generator (`scripts/generate_sample_history.py`, which loads this file by
its path: so nothing here imports Django or the rest of the project).

UK cards 1.5 % + 20p, other cards 3.25 % + 20p, £15 per dispute, no fee on a refund;
funds available two days after the charge at 00:00 UTC; a charge in another currency
settles in the store currency at OFFLINE_RATES; a daily automatic payout at 00:00 UTC
of what became available since the previous one, arriving the next day.
"""

from decimal import ROUND_HALF_UP, Decimal

OFFLINE_CARD_PRICING = {"GB": (150, 20)}
OFFLINE_CARD_PRICING_OTHER = (325, 20)
OFFLINE_DISPUTE_FEE_PENNIES = 1500
OFFLINE_AVAILABLE_DAYS = 2
OFFLINE_RATES = {"EUR": Decimal("0.86"), "USD": Decimal("0.79")}
DAY = 86400


def half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def offline_fee(amount: int, country: str) -> int:
    """Stripe's processing fee of a card charge of `amount` (store currency)."""
    bps, fixed = OFFLINE_CARD_PRICING.get(country.upper(), OFFLINE_CARD_PRICING_OTHER)
    return half_up(Decimal(amount) * bps / 10000) + fixed


def offline_available_on(created: int) -> int:
    """When funds of a balance transaction made at `created` become available."""
    return (created // DAY + OFFLINE_AVAILABLE_DAYS) * DAY


def payout_windows(available: list[tuple[int, int]], *, first: int, end: int):
    """Stripe's daily automatic payouts of balance transactions given as
    (available_on, net): at each 00:00 UTC from `first` to before `end`, a payout of
    what became available since the previous payout, when positive (else it waits).
    Yields (created, amount) — the offline gateway's `run_payouts` rule, for a
    history made outside the database."""
    previous = None
    cutoff = first // DAY * DAY
    while cutoff < end:
        total = sum(
            net
            for on, net in available
            if on <= cutoff and (previous is None or on > previous)
        )
        if total > 0:
            yield cutoff, total
            previous = cutoff
        cutoff += DAY
