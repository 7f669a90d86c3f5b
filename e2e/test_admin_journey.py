"""The admin's journey in a real Chromium against the live app.

An admin makes a customer an ops user in the admin site (the Groups are the
roles), takes a data-quality issue raised by the monitoring checks (an order left
waiting for payment for two days), acknowledges it and resolves it, then filters
the audit trail down to those acts and to the role change.

The issue comes from the real pipeline: the order is placed through checkout at a
past moment (time-machine, as `seed_demo` does) and the checks run as the hourly
task runs them.
"""

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from e2e.pages import cell, nav_link

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def admin_person(transactional_db, password):
    from accounts.roles import Role
    from accounts.services import role_groups, user_create

    # Every role's group, as the data migration leaves them: an earlier
    # transactional test may have flushed them.
    role_groups(Role.values)
    return user_create(
        email="admin@example.com",
        password=password,
        full_name="Ada Admin",
        roles=["admin"],
    )


@pytest.fixture
def stale_order(mug, shopper):
    """An order placed two days ago and never paid; the checks have flagged it."""
    from django.utils import timezone

    from demo.history import travel_to
    from monitoring.services import checks_run
    from orders.tests.factories import place_order

    with travel_to(timezone.now() - dt.timedelta(days=2)):
        order = place_order(customer=shopper, variants={mug.variants.get(): 1})
    checks_run()
    return order


def _audit_filter(page, **fields):
    for label, value in fields.items():
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_role("button", name="Filter").click()


def test_admin_changes_roles_resolves_a_monitoring_issue_and_filters_the_audit_trail(
    page, live_server, admin_person, shopper, stale_order, sign_in, a11y
):
    from audit.models import AuditLog
    from monitoring.models import DataQualityIssue

    url = live_server.url

    # 1. Roles: the customer becomes an ops user too.
    sign_in("admin@example.com")
    nav_link(page, "Main", "Admin").click()
    expect(page.get_by_role("heading", name="Administration", level=1)).to_be_visible()
    expect(page.get_by_role("link", name="PureLaka administration")).to_be_visible()
    a11y.check("admin site")
    page.get_by_role("table", name="Accounts").get_by_role("link", name="Users").click()
    row = page.get_by_role("row").filter(has_text="shopper@example.com")
    expect(cell(row, "Roles")).to_have_text("customer")
    a11y.check("users")
    row.get_by_role("link", name="shopper@example.com").click()
    expect(page.get_by_role("heading", name="Change user", level=1)).to_be_visible()
    available = page.get_by_role("listbox", name=re.compile("^Available groups"))
    chosen = page.get_by_role("listbox", name=re.compile("^Chosen groups"))
    expect(chosen.get_by_role("option")).to_have_text(["customer"])
    a11y.check("change user")
    available.select_option("ops")
    page.get_by_role("button", name="Choose selected groups").click()
    expect(chosen.get_by_role("option")).to_have_text(["customer", "ops"])
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page).to_have_url(f"{url}/admin/accounts/user/")
    expect(page.get_by_text(re.compile("was changed successfully"))).to_be_visible()
    row = page.get_by_role("row").filter(has_text="shopper@example.com")
    expect(cell(row, "Roles")).to_have_text("customer, ops")
    shopper.refresh_from_db()
    assert sorted(shopper.groups.values_list("name", flat=True)) == ["customer", "ops"]

    # 2. Monitoring: the stale order's issue, acknowledged, then resolved.
    page.goto("/monitoring/")
    expect(
        page.get_by_role("heading", name="Data-quality issues", level=1)
    ).to_be_visible()
    issue_row = page.get_by_role("row").filter(has_text="stale_pending_orders")
    expect(issue_row).to_have_count(1)
    expect(cell(issue_row, "Status")).to_have_text("Open")
    a11y.check("monitoring")
    issue_row.get_by_role("link", name=re.compile(stale_order.number)).click()
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text("stale_pending_orders")
    expect(heading).to_contain_text("Open")
    expect(
        page.get_by_text(f"Order {stale_order.number} waits for payment")
    ).to_be_visible()
    a11y.check("monitoring issue")

    page.get_by_label("Note").fill("Asked the customer whether they still want it")
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_role("status")).to_contain_text("Issue acknowledged.")
    expect(heading).to_contain_text("Acknowledged")
    expect(page.get_by_text("admin@example.com: acknowledged")).to_be_visible()
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)

    page.get_by_label("Note").fill("Customer will pay today; nothing to fix")
    page.get_by_role("button", name="Resolve").click()
    expect(page.get_by_role("status")).to_contain_text("Issue resolved.")
    expect(heading).to_contain_text("Resolved")
    expect(page.get_by_text(re.compile("admin@example.com: resolved"))).to_be_visible()
    expect(page.get_by_role("button", name="Resolve")).to_have_count(0)

    nav_link(page, "Monitoring", "Data-quality issues").click()
    expect(
        page.get_by_role("row").filter(has_text="stale_pending_orders")
    ).to_have_count(0)
    issue = DataQualityIssue.objects.get(check_name="stale_pending_orders")
    assert (issue.status, issue.owner, issue.resolved_by) == (
        "resolved",
        admin_person,
        admin_person,
    )

    # 3. The audit trail, filtered to the issue's acts, then to the admin's role
    # change (signing the customer up added their first role, by "system").
    nav_link(page, "Monitoring", "Audit trail").click()
    expect(page.get_by_role("heading", name="Audit trail", level=1)).to_be_visible()
    everything = AuditLog.objects.count()
    expect(page.get_by_text(f"{everything} events.")).to_be_visible()
    a11y.check("audit trail")

    _audit_filter(page, **{"Event type": "monitoring.issue_"})
    expect(page).to_have_url(re.compile(r"[?&]event_type=monitoring\.issue_"))
    expect(page.get_by_text("2 events.")).to_be_visible()
    rows = page.get_by_role("row").filter(has_text="monitoring.issue_")
    expect(rows).to_have_count(2)
    for event in ("monitoring.issue_resolved", "monitoring.issue_acknowledged"):
        row = rows.filter(has_text=event)
        expect(cell(row, "Who")).to_have_text("admin@example.com")
        expect(cell(row, "Role")).to_have_text("admin")
        expect(cell(row, "Object")).to_have_text(
            f"monitoring.dataqualityissue:{issue.pk}"
        )
    expect(page.get_by_role("row").filter(has_text="auth.login")).to_have_count(0)
    a11y.check("audit trail (filtered)")

    _audit_filter(
        page,
        **{
            "User (email)": "admin@example.com",
            "Event type": "accounts.role_changed",
            "Object": f"accounts.user:{shopper.pk}",
        },
    )
    expect(page.get_by_text("1 event.")).to_be_visible()
    row = page.get_by_role("row").filter(has_text="accounts.role_changed")
    expect(cell(row, "Who")).to_have_text("admin@example.com")
    expect(cell(row, "Details")).to_contain_text("'added': ['ops']")
    a11y.assert_clean()
