"""Demo customers joined before their first order, on the same days before today
whatever the date of the seed (issue 17)."""

import datetime as dt

import pytest
import time_machine
from django.core.management import call_command
from django.db.models import Min

from accounts.models import User
from core.timeutils import reporting_tz

pytestmark = pytest.mark.django_db(transaction=True)


def _seed_at(moment: str) -> list[tuple]:
    """Seed at `moment`; each customer's join time and first order time, as (days
    before today in London, London time)."""
    now = dt.datetime.fromisoformat(moment)
    tz = reporting_tz()
    today = now.astimezone(tz).date()
    call_command("flush", "--noinput")
    with time_machine.travel(now, tick=False):
        call_command("seed_demo", "--seed", "5", "--customers", "8", "--days", "14")

    def at(value):
        if value is None:
            return None
        local = value.astimezone(tz)
        return ((local.date() - today).days, local.time().isoformat())

    rows = []
    for person in (
        User.objects.filter(groups__name="customer")
        .annotate(
            first_order=Min("orders__created_at"),
            first_subscription=Min("subscriptions__started_at"),
        )
        .order_by("email")
    ):
        firsts = [m for m in (person.first_order, person.first_subscription) if m]
        assert person.date_joined < now
        if firsts:
            assert person.date_joined < min(firsts), person.email
        rows.append((person.email, at(person.date_joined), at(person.first_order)))
    return rows


def test_customers_join_before_their_first_order_the_same_on_any_date(capsys):
    summer = _seed_at("2027-06-15T09:00:00+00:00")
    assert sum(1 for _email, _joined, first in summer if first) >= 3
    # In winter (no summer time), the offsets and London times are the same.
    assert _seed_at("2027-12-02T21:30:00+00:00") == summer
    capsys.readouterr()


def test_a_re_run_leaves_the_join_dates_alone(capsys):
    with time_machine.travel(dt.datetime(2027, 6, 15, 9, tzinfo=dt.UTC), tick=False):
        call_command("seed_demo", "--customers", "4", "--days", "3")
    joined = dict(User.objects.values_list("email", "date_joined"))
    with time_machine.travel(dt.datetime(2027, 6, 20, 9, tzinfo=dt.UTC), tick=False):
        call_command("seed_demo", "--customers", "4", "--days", "3")
    assert dict(User.objects.values_list("email", "date_joined")) == joined
    capsys.readouterr()
