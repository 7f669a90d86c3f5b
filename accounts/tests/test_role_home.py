import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"


def _sign_in(client, user, next_url=None):
    url = reverse("accounts:login")
    if next_url:
        url += f"?next={next_url}"
    return client.post(url, {"username": user.email, "password": PASSWORD})


@pytest.mark.parametrize(
    ("role", "home"),
    [
        ("ops", "ops:queue"),
        ("analyst", "analyticsapp:dashboard"),
        ("admin", "monitoring:issues"),
        ("customer", "catalog:home"),
    ],
)
def test_sign_in_without_next_lands_on_the_roles_home(client, make_user, role, home):
    response = _sign_in(client, make_user(role))
    assert response.status_code == 302
    assert response["Location"] == reverse(home)


def test_sign_in_with_next_goes_there_whatever_the_role(client, make_user):
    response = _sign_in(client, make_user("ops"), next_url="/orders/")
    assert response["Location"] == "/orders/"


def test_sign_in_of_a_superuser_without_groups_lands_on_monitoring(client, make_user):
    response = _sign_in(client, make_user(is_superuser=True, is_staff=True))
    assert response["Location"] == reverse("monitoring:issues")


@pytest.mark.parametrize(
    ("role", "label"),
    [("ops", "Ops staff"), ("admin", "Admin"), ("analyst", "Analyst")],
)
def test_the_account_page_shows_the_real_role(client, make_user, role, label):
    client.force_login(make_user(role))
    page = client.get(reverse("accounts:account")).content.decode()
    assert f'<span class="badge badge-role">{label}</span>' in page
    assert "none" not in page.split("Roles", 1)[1].split("</dd>", 1)[0]
