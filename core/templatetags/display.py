import datetime as dt

from django import template

register = template.Library()


@register.filter
def duration(value):
    """A timedelta as words: `2 days 3 hours`, `45 minutes`."""
    if not isinstance(value, dt.timedelta):
        return ""
    minutes = int(value.total_seconds() // 60)
    days, rest = divmod(minutes, 60 * 24)
    hours, minutes = divmod(rest, 60)
    parts = []
    if days:
        parts.append(f"{days} day{'s' if days != 1 else ''}")
    if hours:
        parts.append(f"{hours} hour{'s' if hours != 1 else ''}")
    if not days and (minutes or not parts):
        parts.append(f"{minutes} minute{'s' if minutes != 1 else ''}")
    return " ".join(parts)


@register.filter
def any_has(items, attribute):
    """True when any item's `attribute` is set: `{% if series|any_has:"built_at" %}`."""
    return any(getattr(item, attribute, None) for item in items or ())


@register.filter
def plus_sign(value):
    """ "+" for a positive number, else nothing: `{{ n|plus_sign }}{{ n }}` → `+3`."""
    try:
        return "+" if value > 0 else ""
    except TypeError:
        return ""
