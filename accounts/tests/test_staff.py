"""Staff management outside the Django admin: invite, change a role, deactivate."""

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import User
from audit.models import AuditLog

pytestmark = pytest.mark.django_db(transaction=True)  # messages go out on commit


@pytest.fixture
def admin_client(client, admin_user, settings):
    settings.MESSAGES_DELIVERY = "inline"
    client.force_login(admin_user)
    return client


def _invite(client, email="new.ops@example.com", role="ops"):
    return client.post(
        reverse("accounts:staff"),
        {"email": email, "full_name": "Nia Ops", "role": role},
    )


def test_an_invited_colleague_sets_a_password_through_the_link(
    admin_client, admin_user
):
    response = _invite(admin_client)
    assert response.status_code == 302
    user = User.objects.get(email="new.ops@example.com")
    assert user.roles == {"ops"} and not user.has_usable_password()
    [message] = mail.outbox
    assert message.to == [user.email] and "as Ops staff" in message.body
    row = AuditLog.objects.get(event_type="accounts.staff_invited")
    assert (row.actor, row.metadata) == (admin_user, {"role": "ops"})
    page = admin_client.get(reverse("accounts:staff")).content.decode()
    assert "new.ops@example.com" in page and ">invited<" in page

    link = re.search(r"https?://\S+/account/invitation/\S+/", message.body).group(0)
    path = re.sub(r"^https?://[^/]+", "", link)
    colleague = Client()
    form = colleague.get(path, follow=True)
    assert "Set your password" in form.content.decode()
    colleague.post(
        form.redirect_chain[-1][0],
        {"new_password1": "ops-pass-2026-long", "new_password2": "ops-pass-2026-long"},
    )
    colleague.post(
        reverse("accounts:login"),
        {"username": user.email, "password": "ops-pass-2026-long"},
    )
    assert colleague.get("/ops/").status_code == 200
    again = Client().get(path, follow=True)
    assert "This invitation does not work" in again.content.decode()


def test_an_address_with_an_account_is_not_invited_again(admin_client, customer):
    response = _invite(admin_client, email=customer.email)
    assert response.status_code == 400
    assert "already has an account" in response.content.decode()
    assert not mail.outbox


def test_an_admin_changes_a_role_and_deactivates_audited(admin_client, ops_user):
    admin_client.post(
        reverse("accounts:staff_role", args=[ops_user.pk]), {"role": "analyst"}
    )
    ops_user = User.objects.get(pk=ops_user.pk)
    assert ops_user.roles == {"analyst"}
    admin_client.post(
        reverse("accounts:staff_active", args=[ops_user.pk]), {"active": "0"}
    )
    assert not User.objects.get(pk=ops_user.pk).is_active
    assert AuditLog.objects.filter(
        event_type="accounts.deactivated", target_id=str(ops_user.pk)
    ).exists()
    admin_client.post(
        reverse("accounts:staff_active", args=[ops_user.pk]), {"active": "1"}
    )
    assert User.objects.get(pk=ops_user.pk).is_active


def test_an_admin_cannot_demote_or_deactivate_themselves(admin_client, admin_user):
    demote = admin_client.post(
        reverse("accounts:staff_role", args=[admin_user.pk]),
        {"role": "ops"},
        follow=True,
    )
    assert "cannot take the admin role from yourself" in demote.content.decode()
    leave = admin_client.post(
        reverse("accounts:staff_active", args=[admin_user.pk]),
        {"active": "0"},
        follow=True,
    )
    assert "cannot deactivate yourself" in leave.content.decode()
    admin_user.refresh_from_db()
    assert admin_user.is_active and "admin" in admin_user.roles


def test_only_admins_manage_staff(client, ops_user):
    client.force_login(ops_user)
    assert client.get(reverse("accounts:staff")).status_code == 403


def test_the_staff_page_reads_roles_without_a_query_per_member(
    admin_client, make_user, django_assert_max_num_queries
):
    def queries(n_more):
        for i in range(n_more):
            make_user("ops", email=f"ops{i}-{n_more}@example.com")
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as seen:
            assert admin_client.get(reverse("accounts:staff")).status_code == 200
        return len(seen)

    assert queries(1) == queries(6)  # five more staff, no more queries
