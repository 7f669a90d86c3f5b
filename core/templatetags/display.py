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
