"""Erasing a customer's personal data on request, keeping the books intact.

docs/data_governance.md says what is scrubbed, what is kept and why. Erasure spans
accounts (the user), orders (their addresses) and payments (the Stripe payloads
about them, and the disputes that hold it back), so it lives in payments, the
lowest app that may import all three (ARCHITECTURE.md: imports point down); in
accounts it made accounts import payments. Wishlist items are only counted,
through the user's reverse relation.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.db import transaction
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from accounts.models import User
from accounts.roles import STAFF_ROLES
from audit.services import audit_erase_person, audit_record
from core.exceptions import DomainError
from core.mail import messages_erase_recipient
from payments.models import Dispute, StripeEvent

ANONYMISED_DOMAIN = "invalid.example"
# A whole UK postcode, or its outward code alone (so anonymising twice is a no-op).
_UK_POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?)(?: ?[0-9][A-Z]{2})?$")
# Keys whose value is always about the person (dispute evidence, invoices).
_PERSON_KEYS = frozenset(
    {
        "customer_name",
        "customer_phone",
        "customer_address",
        "customer_shipping",
        "customer_purchase_ip",
        "billing_address",
        "shipping_address",
        "phone",
    }
)
# Keys whose value is the person's email, whatever its spelling.
_EMAIL_KEYS = frozenset(
    {"email", "receipt_email", "customer_email", "customer_email_address"}
)


class AnonymisationRefused(DomainError):
    """This user may not be anonymised (yet); the message says why."""


# Other apps' rules for an erasure, registered at start-up (payments cannot import
# them: the apps point the other way). A guard returns why the user may not be
# erased yet, or ""; a preparation does what removes that reason (outside any
# transaction: it may call Stripe) and returns how many things it did.
ERASURE_GUARDS: dict[str, Callable[[User], str]] = {}
ERASURE_PREPARATIONS: dict[str, Callable[[User], int]] = {}


def customer_erasure_prepare(*, user: User) -> dict[str, int]:
    """Run every registered preparation (subscriptions: cancel the live ones in
    Stripe), but only once nothing else refuses the erasure (AnonymisationRefused
    then, and nothing is canceled); never inside a transaction. Returns what each
    did."""
    customer_anonymisation_plan(user=user, ignoring=tuple(ERASURE_PREPARATIONS))
    return {name: prepare(user) for name, prepare in ERASURE_PREPARATIONS.items()}


@dataclass(frozen=True)
class Anonymisation:
    """What an anonymisation changes (or, in a dry run, would change)."""

    user_id: int
    anonymised_email: str
    order_numbers: tuple[str, ...]
    stripe_event_ids: tuple[str, ...]
    login_records: int
    wishlist_items_kept: int
    saved_addresses: int = 0  # deleted: an address book is only personal data
    audit_rows: int = 0  # audit rows rewritten: known once done

    def counts(self) -> dict[str, int]:
        """Rows changed per table: the audit row's metadata (never an old value)."""
        return {
            "users": 1,
            "orders": len(self.order_numbers),
            "stripe_events": len(self.stripe_event_ids),
            "login_records_deleted": self.login_records,
            "saved_addresses_deleted": self.saved_addresses,
            "wishlist_items_kept": self.wishlist_items_kept,
            "audit_rows_rewritten": self.audit_rows,
        }


def anonymised_email(user: User) -> str:
    return f"anonymised-{user.pk}@{ANONYMISED_DOMAIN}"


def outward_code(postcode: str, country: str = "GB") -> str:
    """The outward half of a UK postcode ("LS1 1AA" → "LS1", "LS1" → "LS1"); ""
    for anything else, and for any other country."""
    if country.upper() != "GB":
        return ""
    match = _UK_POSTCODE.match(postcode.strip().upper())
    return match.group(1) if match else ""


def customer_anonymisation_plan(
    *, user: User, ignoring: tuple[str, ...] = ()
) -> Anonymisation:
    """What `customer_anonymise` would change for this user. Reads only.

    Raises AnonymisationRefused for a staff user, for a customer with an order
    still pending payment or awaiting fulfilment (its address is still needed), and
    for one with an open dispute (its evidence may need the address).
    """
    _refuse_if_not_erasable(user, ignoring=ignoring)
    return Anonymisation(
        user_id=user.pk,
        anonymised_email=anonymised_email(user),
        order_numbers=tuple(
            user.orders.order_by("pk").values_list("number", flat=True)
        ),
        stripe_event_ids=tuple(
            _stripe_events(user).order_by("pk").values_list("event_id", flat=True)
        ),
        login_records=sum(records.count() for records in _login_records(user)),
        wishlist_items_kept=user.wishlist.count(),
        saved_addresses=user.saved_addresses.count(),
    )


@transaction.atomic
def customer_anonymise(*, user: User, actor_label: str) -> Anonymisation:
    """Scrub a customer's personal data; amounts and dates stay as they are.

    Writes, in one transaction: the user (anonymised email, no name, unusable
    password, inactive); their orders (anonymised email; shipping name and street
    cleared; postcode cut to its outward code; city and country kept); the Stripe
    events about them (names, emails, phones and street addresses in the payload
    scrubbed); deletes their django-axes login records; appends one
    `accounts.customer_anonymised` audit row with the counts. Audit rows naming
    them are rewritten once (`audit_erase_person`: the email and name replaced,
    who did what and when kept). Payments, refunds, disputes and wishlist items
    are not changed. Raises
    AnonymisationRefused as `customer_anonymisation_plan` does.
    """
    user = User.objects.select_for_update().get(pk=user.pk)
    plan = customer_anonymisation_plan(user=user)
    new_email = plan.anonymised_email
    identifying = _identifying_values(user, user.orders.order_by("pk"))
    old_email = re.compile(re.escape(user.email), re.IGNORECASE)

    # Events, then orders: the order in which the webhook locks them.
    for event in _stripe_events(user).select_for_update().order_by("pk"):
        payload = _scrub(
            event.payload, email=old_email, new_email=new_email, identifying=identifying
        )
        StripeEvent.objects.filter(pk=event.pk).update(payload=payload)

    now = timezone.now()
    for order in user.orders.select_for_update().order_by("pk"):
        user.orders.filter(pk=order.pk).update(
            email=new_email,
            shipping_name="",
            shipping_line1="",
            shipping_line2="",
            shipping_postcode=outward_code(
                order.shipping_postcode, order.shipping_country
            ),
            updated_at=now,
        )

    for records in _login_records(user):
        records.delete()
    user.saved_addresses.all().delete()
    # The emails sent to them: kept for the order timeline, without their bodies.
    messages_erase_recipient(email=user.email, new_email=new_email)

    def scrub(value):
        return _scrub(
            value, email=old_email, new_email=new_email, identifying=identifying
        )

    plan = replace(
        plan, audit_rows=audit_erase_person(user=user, scrub=scrub, email=user.email)
    )

    user.email = new_email
    user.full_name = ""
    user.is_active = False
    user.set_unusable_password()
    user.save(update_fields=["email", "full_name", "is_active", "password"])

    audit_record(
        event_type="accounts.customer_anonymised",
        actor_label=actor_label,
        target=user,
        metadata=plan.counts(),
    )
    return plan


def _refuse_if_not_erasable(user: User, *, ignoring: tuple[str, ...] = ()) -> None:
    staff_roles = sorted(user.roles & STAFF_ROLES)
    if staff_roles or user.is_staff or user.is_superuser:
        raise AnonymisationRefused(
            f"user #{user.pk} is staff (roles: {', '.join(staff_roles) or 'none'}"
            f"{', is_staff' if user.is_staff else ''}): only customers are "
            "anonymised; remove their staff roles first"
        )
    open_orders = list(
        user.orders.filter(status__in=["pending", "paid"])
        .order_by("pk")
        .values_list("number", flat=True)
    )
    if open_orders:
        raise AnonymisationRefused(
            f"user #{user.pk} has open orders ({', '.join(open_orders)}): "
            "fulfil or cancel them first"
        )
    for name, guard in ERASURE_GUARDS.items():
        reason = "" if name in ignoring else guard(user)
        if reason:
            raise AnonymisationRefused(reason)
    disputes = Dispute.objects.filter(
        Q(payment__customer=user) | Q(payment__order__customer=user)
    ).distinct()
    open_disputes = sorted(d.stripe_dispute_id for d in disputes if d.is_open)
    if open_disputes:
        raise AnonymisationRefused(
            f"user #{user.pk} has open disputes ({', '.join(open_disputes)}): "
            "anonymise after they close"
        )


def _stripe_events(user: User):
    """The inbox events about this customer: about their orders' or payments'
    Stripe objects, or mentioning their email anywhere in the payload."""
    ids = set()
    for row in user.orders.values_list(
        "stripe_checkout_session_id", "stripe_payment_intent", "stripe_charge_id"
    ):
        ids.update(row)
    for row in user.payments.values_list(
        "stripe_payment_intent", "stripe_charge_id", "stripe_invoice_id"
    ):
        ids.update(row)
    ids.discard(None)
    ids.discard("")
    return StripeEvent.objects.annotate(
        payload_text=Cast("payload", output_field=TextField())
    ).filter(Q(object_id__in=ids) | Q(payload_text__icontains=user.email))


def _login_records(user: User):
    return [
        model.objects.filter(username__iexact=user.email)
        for model in (AccessAttempt, AccessFailureLog, AccessLog)
    ]


def _identifying_values(user: User, orders) -> frozenset[str]:
    """Strings that name the person or their street, casefolded: a payload string
    equal to one of them is cleared wherever it sits."""
    values = {user.full_name}
    for order in orders:
        values.update((order.shipping_name, order.shipping_line1, order.shipping_line2))
    return frozenset(v.strip().casefold() for v in values if v and v.strip())


def _scrub(value, *, email, new_email, identifying):
    """A copy of a JSON value with the person taken out (see customer_anonymise)."""
    again = {"email": email, "new_email": new_email, "identifying": identifying}
    if isinstance(value, dict):
        scrubbed = {}
        for key, item in value.items():
            if key in _EMAIL_KEYS and isinstance(item, str) and item:
                scrubbed[key] = new_email
            elif key in _PERSON_KEYS and item:
                scrubbed[key] = None
            elif key == "address" and isinstance(item, dict):
                scrubbed[key] = _scrub_address(item)
            elif key == "name" and item and _names_a_person(value):
                scrubbed[key] = None
            else:
                scrubbed[key] = _scrub(item, **again)
        return scrubbed
    if isinstance(value, list):
        return [_scrub(item, **again) for item in value]
    if isinstance(value, str):
        if value.strip().casefold() in identifying:
            return ""
        return email.sub(new_email, value)
    return value


def _names_a_person(obj: dict) -> bool:
    """A Stripe customer, or a block with an address or email beside its name
    (billing_details, customer_details, shipping): not a product's name."""
    return obj.get("object") == "customer" or "address" in obj or "email" in obj


def _scrub_address(address: dict) -> dict:
    """Street lines go; city, state, country and the outward postcode stay."""
    postal_code = outward_code(
        str(address.get("postal_code") or ""), str(address.get("country") or "")
    )
    return {**address, "line1": None, "line2": None, "postal_code": postal_code or None}
