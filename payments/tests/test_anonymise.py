"""`anonymise_customer`: personal data goes, the books stay as they were."""

import datetime as dt
import io
import json

import pytest
from axes.models import AccessLog
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections
from django.urls import reverse

from accounts.models import SavedAddress, User
from analyticsapp.models import DailySnapshot
from analyticsapp.services.snapshots import METRICS, snapshots_build
from audit.models import AuditLog
from audit.services import audit_record
from catalog.tests.factories import ProductFactory, VariantFactory
from orders.models import Order, OrderStatusChange
from orders.services.cart import CartEntry
from orders.services.checkout import ShippingAddress, new_checkout_token, order_place
from orders.services.lifecycle import order_fulfil
from payments.management.commands.anonymise_customer import Command
from payments.models import Payment, Refund, StripeEvent
from payments.services.anonymise import outward_code
from payments.tests.events import (
    BASE,
    charge_succeeded,
    dispute_event,
    envelope,
    intent_succeeded,
    post,
    refund_event,
)
from wishlist.models import WishlistItem

pytestmark = pytest.mark.django_db

EMAIL = "ada.lovelace@example.com"
NAME = "Ada Lovelace"
STREET = "12 Analytical Engine Row"
FLAT = "Flat 3 Babbage House"
ADDRESS = ShippingAddress(
    name=NAME, line1=STREET, line2=FLAT, city="London", postcode="SW1A 1AA"
)
PERSONAL = [EMAIL, NAME, STREET, FLAT, "SW1A 1AA"]
DAY = 86_400


def _order(customer, variant, address=ADDRESS):
    return order_place(
        customer=customer,
        entries={
            variant.pk: CartEntry(quantity=1, seen_price_pennies=variant.price_pennies)
        },
        address=address,
        checkout_token=new_checkout_token(),
    )


def _pay(client, order, n, created):
    """Pay through the webhook with the personal data Stripe's objects carry."""
    pi, charge = f"pi_anon{n}", f"ch_anon{n}"
    person = {
        "name": order.shipping_name,
        "email": order.email.upper(),  # Stripe keeps the case it was given
        "phone": "+44 20 7946 0000",
        "address": {
            "line1": order.shipping_line1,
            "line2": order.shipping_line2,
            "city": order.shipping_city,
            "postal_code": order.shipping_postcode,
            "country": "GB",
        },
    }
    intent = intent_succeeded(order, pi=pi, charge=charge, created=created)
    intent["data"]["object"].update(
        receipt_email=order.email,
        shipping={"name": order.shipping_name, "address": person["address"]},
        description=f"Order {order.number} for {order.email}",
    )
    paid = charge_succeeded(order, pi=pi, charge=charge, created=created + 1)
    paid["data"]["object"]["billing_details"] = person
    for event in (intent, paid):
        assert post(client, event).status_code == 200
    order.refresh_from_db()
    return charge, pi


@pytest.fixture
def shop(client, make_user):
    """Ada with three paid orders (fulfilled, part-refunded, fully refunded), a
    wishlist item and a sign-in; Bob, another customer, with one order."""
    ada = make_user("customer", email=EMAIL, full_name=NAME)
    bob = make_user("customer", email="bob@example.com", full_name="Bob Builder")
    variant = VariantFactory(stock=50)
    orders = [_order(ada, variant) for _ in range(3)]
    charges = [_pay(client, order, n, BASE + n * DAY) for n, order in enumerate(orders)]
    order_fulfil(order=orders[0], actor=None)
    order_fulfil(order=orders[1], actor=None)
    post(client, refund_event("re_part", 500, charge=charges[1][0], pi=charges[1][1]))
    total = orders[2].total_pennies
    post(client, refund_event("re_full", total, charge=charges[2][0], pi=charges[2][1]))
    bob_order = _order(
        bob, variant, ShippingAddress("Bob Builder", "1 Site Lane", "Leeds", "LS1 1AA")
    )
    _pay(client, bob_order, 9, BASE)
    order_fulfil(order=bob_order, actor=None)
    stripe_customer = {
        "id": "cus_ada",
        "object": "customer",
        "email": EMAIL,
        "name": "Ada L.",
        "phone": "+44 20 7946 0001",
        "address": {"line1": STREET, "city": "London", "postal_code": "SW1A 1AA"},
    }
    post(client, envelope("customer.updated", stripe_customer))  # stored, ignored
    WishlistItem.objects.create(customer=ada, product=ProductFactory())
    SavedAddress.objects.create(
        user=ada,
        name=NAME,
        line1=STREET,
        line2=FLAT,
        city="London",
        postcode="SW1A 1AA",
    )
    client.post(reverse("accounts:login"), {"username": EMAIL, "password": "x"})
    client.post(
        reverse("accounts:login"),
        {"username": EMAIL, "password": "correct-horse-battery"},
    )
    client.logout()
    assert AccessLog.objects.filter(username=EMAIL).exists()
    ada.refresh_from_db()
    return ada, bob


ORDER_FIELDS = [
    "number", "status", "refund_status", "currency", "subtotal_pennies",
    "shipping_pennies", "total_pennies", "refunded_pennies", "created_at", "paid_at",
    "fulfilled_at", "canceled_at", "refunded_at", "customer_id", "shipping_city",
    "shipping_country",
]  # fmt: skip


def _books():
    """Every amount and date of the ledger and the orders."""
    return {
        "orders": list(Order.objects.order_by("pk").values(*ORDER_FIELDS)),
        "payments": list(Payment.objects.order_by("pk").values()),
        "refunds": list(Refund.objects.order_by("pk").values()),
        "status_changes": list(OrderStatusChange.objects.order_by("pk").values()),
    }


def _snapshot_days():
    start, end = dt.date(2026, 5, 27), dt.date(2026, 6, 3)
    snapshots_build(date_from=start, date_to=end, triggered_by="test")
    return list(DailySnapshot.objects.order_by("day").values("day", *METRICS))


def _text_of(model, *, leave_out=()):
    rows = [
        {k: v for k, v in row.items() if k not in leave_out}
        for row in model.objects.order_by("pk").values()
    ]
    return json.dumps(rows, default=str).casefold()


def _dump(leave_out=()):
    return {
        m.__name__: _text_of(m, leave_out=leave_out)
        for m in (User, Order, StripeEvent, WishlistItem)
    }


def test_anonymising_leaves_no_personal_data_in_users_orders_or_stripe_events(shop):
    for model in (User, Order, StripeEvent):
        assert EMAIL in _text_of(model), f"the fixture puts Ada in {model.__name__}"

    call_command("anonymise_customer", EMAIL.upper())

    for model in (User, Order, StripeEvent):
        text = _text_of(model)
        for value in PERSONAL:
            assert value.casefold() not in text, (model.__name__, value)
    assert "bob@example.com" in _text_of(Order), "other customers are untouched"
    assert "1 site lane" in _text_of(Order)


def test_the_user_can_no_longer_sign_in_and_is_anonymised(client, shop):
    ada, _ = shop
    call_command("anonymise_customer", EMAIL)
    ada.refresh_from_db()
    assert ada.email == f"anonymised-{ada.pk}@invalid.example"
    assert (ada.full_name, ada.is_active) == ("", False)
    assert not ada.has_usable_password()
    client.post(
        reverse("accounts:login"),
        {"username": EMAIL, "password": "correct-horse-battery"},
    )
    assert "_auth_user_id" not in client.session
    assert not AccessLog.objects.filter(username__iexact=EMAIL).exists()


def test_orders_keep_city_country_and_the_outward_postcode(shop):
    ada, _ = shop
    call_command("anonymise_customer", EMAIL)
    for order in Order.objects.filter(customer=ada):
        assert order.email == f"anonymised-{ada.pk}@invalid.example"
        assert (order.shipping_name, order.shipping_line1, order.shipping_line2) == (
            "",
            "",
            "",
        )
        assert (order.shipping_city, order.shipping_postcode) == ("London", "SW1A")
        assert order.shipping_country == "GB"


def test_stripe_payloads_keep_their_money_and_lose_the_person(shop):
    ada, _ = shop
    call_command("anonymise_customer", EMAIL)
    charge = StripeEvent.objects.get(type="charge.succeeded", object_id="ch_anon0")
    billing = charge.payload["data"]["object"]["billing_details"]
    assert billing["email"] == f"anonymised-{ada.pk}@invalid.example"
    assert (billing["name"], billing["phone"]) == (None, None)
    assert billing["address"] == {
        "line1": None,
        "line2": None,
        "city": "London",
        "postal_code": "SW1A",
        "country": "GB",
    }
    intent = StripeEvent.objects.get(
        type="payment_intent.succeeded", object_id="pi_anon0"
    ).payload["data"]["object"]
    assert intent["description"].endswith(f"anonymised-{ada.pk}@invalid.example")
    assert intent["amount"] == Order.objects.filter(customer=ada).first().total_pennies
    customer = StripeEvent.objects.get(object_id="cus_ada").payload["data"]["object"]
    assert customer == {
        "id": "cus_ada",
        "object": "customer",
        "email": f"anonymised-{ada.pk}@invalid.example",
        "name": None,
        "phone": None,
        "address": {
            "line1": None,
            "line2": None,
            "city": "London",
            "postal_code": None,  # no country given: not known to be a UK code
        },
    }


def test_amounts_dates_and_snapshot_revenue_are_unchanged(shop):
    books, snapshots = _books(), _snapshot_days()
    assert any(day["net_revenue_pennies"] for day in snapshots)
    assert Refund.objects.filter(status="succeeded").count() == 2

    call_command("anonymise_customer", EMAIL)

    assert _books() == books
    assert _snapshot_days() == snapshots


def test_wishlist_items_kept_audit_rows_rewritten_and_one_audit_row_added(shop):
    ada, _ = shop
    audit_rows(ada)  # her own acts, as she signed in and shopped
    audit_before = list(AuditLog.objects.order_by("pk").values())
    wishlist_before = list(WishlistItem.objects.order_by("pk").values())
    naming = [r for r in audit_before if EMAIL in json.dumps(r, default=str).lower()]
    assert naming, "the fixture's audit rows name Ada"

    call_command("anonymise_customer", EMAIL)

    assert list(WishlistItem.objects.order_by("pk").values()) == wishlist_before
    audit_after = list(AuditLog.objects.order_by("pk").values())
    for before, after in zip(audit_before, audit_after, strict=False):
        if before in naming:  # who did what and when stay; the person goes
            assert EMAIL not in json.dumps(after, default=str).lower()
            unchanged = {"actor_label", "metadata"}
            assert {k: v for k, v in after.items() if k not in unchanged} == {
                k: v for k, v in before.items() if k not in unchanged
            }
        else:
            assert after == before
    (row,) = audit_after[len(audit_before) :]
    assert row["event_type"] == "accounts.customer_anonymised"
    assert (row["target_type"], row["target_id"]) == ("accounts.user", str(ada.pk))
    assert row["actor_label"].startswith("cli:")
    assert row["metadata"] == {
        "users": 1,
        "orders": 3,
        "stripe_events": 7,
        "login_records_deleted": 1,
        "saved_addresses_deleted": 1,
        "wishlist_items_kept": 1,
        "audit_rows_rewritten": len(naming),
    }
    assert EMAIL not in json.dumps(row, default=str)


def audit_rows(ada):
    """Rows as her own acts write them: her email as the actor's label, and in
    the metadata (a name and street too)."""
    audit_record(event_type="auth.login", actor=ada, target=ada)
    audit_record(
        event_type="order.placed",
        actor_label=EMAIL,
        metadata={"email": EMAIL, "ship_to": NAME, "note": f"for {EMAIL.upper()}"},
    )


def test_after_erasure_the_whole_database_names_the_person_nowhere(shop):
    ada, _ = shop
    audit_rows(ada)
    dump = io.StringIO()
    call_command("dumpdata", stdout=dump)
    assert EMAIL in dump.getvalue().lower()

    call_command("anonymise_customer", EMAIL)

    dump = io.StringIO()
    call_command("dumpdata", stdout=dump)
    text = dump.getvalue().casefold()
    for value in PERSONAL:
        assert value.casefold() not in text, value


def test_a_dry_run_prints_the_changes_and_writes_nothing(shop, capsys):
    before, audit_rows = _dump(), AuditLog.objects.count()

    call_command("anonymise_customer", EMAIL, "--dry-run")

    out = capsys.readouterr().out
    assert out.startswith(f"would anonymise customer #{shop[0].pk}")
    assert "orders to change: 3" in out
    assert "Stripe event payloads to change: 7" in out
    assert out.rstrip().endswith("dry run: nothing was written")
    assert _dump() == before
    assert AccessLog.objects.filter(username=EMAIL).count() == 1
    assert AuditLog.objects.count() == audit_rows


def test_anonymising_twice_changes_nothing_more(shop):
    ada, _ = shop
    call_command("anonymise_customer", EMAIL)
    # A second run writes a new unusable password and touches updated_at; no
    # value that means anything changes.
    leave_out = ("password", "updated_at")
    books, dump = _books(), _dump(leave_out)
    call_command("anonymise_customer", f"anonymised-{ada.pk}@invalid.example")
    assert (_books(), _dump(leave_out)) == (books, dump)


# --- refusals: one line, non-zero exit --------------------------------------------


def _run(argv, monkeypatch, capsys):
    """The command as manage.py runs it: (exit status, stderr lines)."""
    # run_from_argv closes connections when it ends; the test's transaction needs it.
    monkeypatch.setattr(connections, "close_all", lambda: None)
    with pytest.raises(SystemExit) as exit_:
        Command().run_from_argv(["manage.py", "anonymise_customer", *argv])
    return exit_.value.code, capsys.readouterr().err.strip().splitlines()


def test_an_unknown_email_is_one_line_and_a_non_zero_exit(monkeypatch, capsys):
    status, lines = _run(["nobody@example.com"], monkeypatch, capsys)
    assert status == 1
    assert lines == ["CommandError: no user with the email 'nobody@example.com'"]


@pytest.mark.parametrize("role", ["admin", "ops", "analyst"])
def test_staff_are_refused_in_one_line(role, make_user, monkeypatch, capsys):
    staff = make_user(role, email=f"{role}@purelaka.test")
    before = _dump()
    status, lines = _run([staff.email], monkeypatch, capsys)
    assert status == 1
    assert len(lines) == 1
    assert lines[0].startswith(f"CommandError: refused: user #{staff.pk} is staff")
    assert role in lines[0]
    assert _dump() == before


def test_a_customer_with_an_order_in_flight_is_refused(shop, client):
    ada, _ = shop
    variant = VariantFactory(stock=5)
    order = _order(ada, variant)
    with pytest.raises(CommandError, match=rf"open orders \({order.number}\)"):
        call_command("anonymise_customer", EMAIL)
    _pay(client, order, 5, BASE + 5 * DAY)
    with pytest.raises(CommandError, match="fulfil or cancel them first"):
        call_command("anonymise_customer", EMAIL)
    order_fulfil(order=order, actor=None)
    call_command("anonymise_customer", EMAIL)


def test_a_customer_with_an_open_dispute_is_refused(shop, client):
    post(client, dispute_event("dp_anon", 1000, charge="ch_anon0"))
    with pytest.raises(CommandError, match=r"open disputes \(dp_anon\)"):
        call_command("anonymise_customer", EMAIL, "--dry-run")
    post(
        client,
        dispute_event(
            "dp_anon",
            1000,
            charge="ch_anon0",
            event_type="charge.dispute.closed",
            status="won",
            created=BASE + 9000,
        ),
    )
    call_command("anonymise_customer", EMAIL)


@pytest.mark.parametrize(
    ("postcode", "country", "outward"),
    [
        ("LS1 1AA", "GB", "LS1"),
        ("sw1a1aa", "GB", "SW1A"),
        (" M1 1AE ", "GB", "M1"),
        ("EC1A 1BB", "gb", "EC1A"),
        ("LS11 5AB", "GB", "LS11"),
        ("SW1A", "GB", "SW1A"),
        ("not a postcode", "GB", ""),
        ("75008", "FR", ""),
        ("", "GB", ""),
    ],
)
def test_outward_code(postcode, country, outward):
    assert outward_code(postcode, country) == outward
