"""Shipping: a flat rate, free above a threshold (both in settings, in pennies)."""

from django.conf import settings


def shipping_for(subtotal_pennies: int) -> int:
    if subtotal_pennies <= 0:
        return 0
    if subtotal_pennies >= settings.FREE_SHIPPING_THRESHOLD_PENNIES:
        return 0
    return settings.SHIPPING_FLAT_PENNIES
