import datetime as dt

import pytest
from django.contrib import admin
from django.db import IntegrityError
from django.utils import timezone

from accounts.models import SavedAddress
from orders.services.checkout import ShippingAddress, saved_address_remember

pytestmark = pytest.mark.django_db

HOME = ShippingAddress(
    name="Sam Shopper", line1="1 High Street", city="Leeds", postcode="LS1 1AA"
)


def test_an_address_is_kept_once_per_customer_most_recent_first(customer):
    first = saved_address_remember(customer=customer, address=HOME)
    work = saved_address_remember(
        customer=customer,
        address=ShippingAddress(
            name="Sam Shopper", line1="2 Mill Lane", city="York", postcode="YO1 7HH"
        ),
    )
    assert list(customer.saved_addresses.all()) == [work, first]
    SavedAddress.objects.filter(pk=first.pk).update(
        last_used_at=timezone.now() - dt.timedelta(days=1)
    )
    again = saved_address_remember(customer=customer, address=HOME)
    assert again.pk == first.pk
    assert list(customer.saved_addresses.all()) == [first, work]
    assert str(first) == "Sam Shopper, 1 High Street, Leeds, LS1 1AA"


def test_the_database_refuses_the_same_address_twice(customer):
    fields = {"name": "A", "line1": "1 Road", "city": "Leeds", "postcode": "LS1"}
    SavedAddress.objects.create(user=customer, **fields)
    with pytest.raises(IntegrityError):
        SavedAddress.objects.create(user=customer, **fields)


def test_saved_addresses_are_in_the_admin(admin_client, customer):
    saved_address_remember(customer=customer, address=HOME)
    assert isinstance(admin.site._registry.get(SavedAddress), admin.ModelAdmin) or (
        SavedAddress in admin.site._registry
    )
    response = admin_client.get("/admin/accounts/savedaddress/")
    assert response.status_code == 200
    assert "1 High Street" in response.content.decode()


def test_the_account_page_lists_saved_addresses_and_forgets_one(client, customer):
    from django.urls import reverse

    from accounts.models import SavedAddress
    from accounts.tests.factories import UserFactory

    mine = SavedAddress.objects.create(
        user=customer,
        name="Cora",
        line1="1 Kiln Lane",
        city="Leeds",
        postcode="LS1 1AA",
    )
    other = SavedAddress.objects.create(
        user=UserFactory(roles=["customer"]),
        name="Otto",
        line1="9 Other Rd",
        city="York",
        postcode="YO1 1AA",
    )
    client.force_login(customer)
    page = client.get(reverse("accounts:account")).content.decode()
    assert "1 Kiln Lane" in page and "9 Other Rd" not in page
    theirs = client.post(reverse("accounts:address_delete", args=[other.pk]))
    assert (
        theirs.status_code == 404 and SavedAddress.objects.filter(pk=other.pk).exists()
    )
    client.post(reverse("accounts:address_delete", args=[mine.pk]))
    assert not SavedAddress.objects.filter(pk=mine.pk).exists()


def test_a_customer_changes_their_name_on_the_account_page(client, customer):
    from django.urls import reverse

    from audit.models import AuditLog

    client.force_login(customer)
    client.post(reverse("accounts:account"), {"full_name": "  Cora Potter "})
    customer.refresh_from_db()
    assert customer.full_name == "Cora Potter"
    assert AuditLog.objects.filter(
        event_type="accounts.profile_updated", actor=customer
    ).exists()
    too_long = client.post(reverse("accounts:account"), {"full_name": "x" * 151})
    assert too_long.status_code == 400
    customer.refresh_from_db()
    assert customer.full_name == "Cora Potter"
