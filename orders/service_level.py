"""The fulfilment service level: when a paid order is late.

A paid order is **late** once `settings.FULFILMENT_SERVICE_LEVEL_DAYS` business days
have passed since its payment without it being fulfilled. Business days are Monday
to Friday in REPORTING_TIMEZONE (bank holidays are not modelled: a merchant who
closes on them sees orders late a day early). The rule is a cut-off moment: an
order paid before `late_cutoff(now)` and still paid is late, so the queue's flag,
its filter and the count on the ops home are one indexed range query on
(status, paid_at).
"""

import datetime as dt

from django.conf import settings
from django.utils import timezone

from core.timeutils import reporting_tz


def service_level_days() -> int:
    return settings.FULFILMENT_SERVICE_LEVEL_DAYS


def late_cutoff(now: dt.datetime | None = None, days: int | None = None) -> dt.datetime:
    """The moment `days` business days before `now`: orders paid earlier are late.

    Steps back one calendar day at a time at the same local clock time, counting
    only weekdays. On a weekend the clock stands still (it is read as the Monday's
    first moment), so the cut-off never moves backwards and a weekend adds nothing
    to the wait.
    """
    now = now or timezone.now()
    days = service_level_days() if days is None else days
    moment = now.astimezone(reporting_tz()).replace(tzinfo=None)
    if days and moment.weekday() >= 5:
        moment = (moment + dt.timedelta(days=7 - moment.weekday())).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
    left = days
    while left > 0:
        moment -= dt.timedelta(days=1)
        if moment.weekday() < 5:
            left -= 1
    cutoff = moment.replace(tzinfo=reporting_tz()).astimezone(dt.UTC)
    return min(cutoff, now)
