from django import template

from core.money import format_money

register = template.Library()


@register.filter
def money(pennies, currency=None):
    """`{{ order.total_pennies|money:order.currency }}` → `£12.34`."""
    return format_money(pennies, currency or None)
