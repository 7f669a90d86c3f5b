"""Money is an integer number of minor units (pennies); Decimal only for display."""

from decimal import Decimal

from django.conf import settings

CURRENCY_SYMBOLS = {"GBP": "£", "USD": "$", "EUR": "€"}
# ISO 4217 currencies without minor units (Stripe's "zero-decimal" currencies).
ZERO_DECIMAL = {"JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF"}


def store_currency() -> str:
    return settings.STORE_CURRENCY.upper()


def to_major(pennies: int, currency: str | None = None) -> Decimal:
    currency = (currency or store_currency()).upper()
    exponent = 0 if currency in ZERO_DECIMAL else 2
    return Decimal(int(pennies)).scaleb(-exponent)


def format_money(pennies: int | None, currency: str | None = None) -> str:
    """`1234, "GBP"` → `£12.34`; negative amounts as `-£12.34`."""
    if pennies is None:
        return "—"
    currency = (currency or store_currency()).upper()
    amount = to_major(abs(int(pennies)), currency)
    symbol = CURRENCY_SYMBOLS.get(currency)
    places = "1" if currency in ZERO_DECIMAL else "0.01"
    text = f"{amount.quantize(Decimal(places)):,}"
    body = f"{symbol}{text}" if symbol else f"{text} {currency}"
    return f"-{body}" if int(pennies) < 0 else body


MAX_MINOR_UNITS = 10**12  # £10,000,000,000.00: more than any one amount can be


class TooPrecise(ValueError):
    """An amount with more decimal places than its currency has."""


def parse_major(text: str, currency: str | None = None) -> int:
    """`"12.34"` → 1234 pennies, exactly. Raises ValueError on what is not an
    amount (text, NaN, infinities, more than 10^12 minor units either way) and
    TooPrecise (a ValueError) on more decimal places than the currency has:
    `"78.001"` is refused, never rounded to £78.00."""
    currency = (currency or store_currency()).upper()
    try:
        value = Decimal(str(text).strip())
    except ArithmeticError as exc:
        raise ValueError(f"not an amount: {text!r}") from exc
    if not value.is_finite():
        raise ValueError(f"not an amount: {text!r}")
    exponent = 0 if currency in ZERO_DECIMAL else 2
    if value.adjusted() > 20:  # scaling it would overflow the context
        raise ValueError(f"not an amount: {text!r} is too large")
    minor = value.scaleb(exponent)
    if minor != minor.to_integral_value():
        raise TooPrecise(f"{text!r} has more than {exponent} decimal places")
    if abs(minor) > MAX_MINOR_UNITS:
        raise ValueError(f"not an amount: {text!r} is too large")
    return int(minor)
