"""The offline Stripe simulator, for dev, demo and tests (`PAYMENTS_USE_STRIPE=0`).

It mints Stripe-shaped ids and objects and delivers signed Stripe-shaped events
through `payments.webhook.receive`, the code path Stripe's own deliveries take;
nothing after the signature check knows which gateway produced an event.

Its gateway methods (the calls our code makes on Stripe) are guarded like the real
gateway's; what Stripe itself does (a customer pays or is declined, a card holder
disputes, a subscription starts or renews) is not a call of ours and is not.
"""

import calendar
import copy
import datetime as dt
import hashlib
import hmac
import json
import secrets
import time
from decimal import Decimal

import stripe
from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import Q
from django.urls import reverse

from accounts.models import User
from catalog.models import Variant
from orders.models import Order
from payments.gateway.checkout_session import (
    CheckoutSession,
    order_metadata,
    subscription_metadata,
)
from payments.gateway.guard import network_call
from payments.gateway.pricing import (
    DAY,
    OFFLINE_DISPUTE_FEE_PENNIES,
    OFFLINE_RATES,
    half_up,
    offline_available_on,
    offline_fee,
)
from payments.models import (
    BalanceTransaction,
    Dispute,
    Payment,
    Payout,
    Refund,
    StripeEvent,
)
from payments.webhook import receive


def _stripe_id(prefix: str, seed: str | None = None) -> str:
    """A Stripe-shaped id; deterministic for a seed (idempotency keys)."""
    if seed is None:
        body = secrets.token_hex(12)
    else:
        body = hashlib.sha256(seed.encode()).hexdigest()[:24]
    return f"{prefix}_offline{body}"


def sign(
    payload: bytes, *, secret: str | None = None, timestamp: int | None = None
) -> str:
    """A `Stripe-Signature` header for `payload`, as Stripe computes it."""
    secret = secret or settings.STRIPE_WEBHOOK_SECRET.split(",")[0].strip()
    timestamp = timestamp or int(time.time())
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


OFFLINE_SUBSCRIPTION_SALT = "payments.gateway.offline-subscription-checkout"
OFFLINE_SESSION_SECONDS = 24 * 3600  # how long Stripe keeps a Checkout Session open
RENEWING = ("trialing", "active", "past_due")


def period_end(anchor: int, interval: str, count: int, periods: int) -> int:
    """The end of the `periods`-th billing period from `anchor` (a Unix time), as
    Stripe bills: months and years fall on the anchor's day of the month, or on the
    month's last day when it is shorter (31 January, 28 February, 31 March)."""
    if interval in ("day", "week"):
        return anchor + (7 if interval == "week" else 1) * count * periods * 86400
    start = dt.datetime.fromtimestamp(anchor, tz=dt.UTC)
    months = start.month - 1 + count * periods * (12 if interval == "year" else 1)
    year, month = start.year + months // 12, months % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return int(start.replace(year=year, month=month, day=day).timestamp())


def _next_period_end(anchor: int, after: int, interval: str, count: int) -> int:
    periods = 1
    while (end := period_end(anchor, interval, count, periods)) <= after:
        periods += 1
    return end


def event_envelope(event_type: str, obj: dict, *, created: int | None = None) -> dict:
    return {
        "id": _stripe_id("evt"),
        "object": "event",
        "api_version": settings.STRIPE_API_VERSION,
        "created": created or int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
        "data": {"object": obj},
    }


def deliver(events: list[dict]) -> list:
    """Sign and hand each event to the webhook pipeline, in order."""
    results = []
    for event in events:
        body = json.dumps(event, separators=(",", ":")).encode()
        results.append(receive(body=body, signature=sign(body)))
    return results


# Offline Stripe pricing and settlement: payments/gateway/pricing.py.


def _settled(amount: int, currency: str) -> tuple[int, Decimal | None]:
    """The amount in the store currency and the rate used (None: no conversion)."""
    if currency.upper() == settings.STORE_CURRENCY.upper():
        return amount, None
    rate = OFFLINE_RATES.get(currency.upper(), Decimal(1))
    return half_up(amount * rate), rate


def _bt(
    key: str,
    *,
    source: str,
    kind: str,
    category: str,
    amount: int,
    currency: str,
    created: int,
    fee: int = 0,
    fee_description: str = "Stripe processing fees",
    available_on: int | None = None,
) -> dict:
    settled, rate = _settled(amount, currency)
    return {
        "id": _stripe_id("txn", key),
        "object": "balance_transaction",
        "amount": settled,
        "fee": fee,
        "net": settled - fee,
        "currency": settings.STORE_CURRENCY.lower(),
        "exchange_rate": float(rate) if rate is not None else None,
        "fee_details": [
            {
                "type": "stripe_fee",
                "amount": fee,
                "currency": settings.STORE_CURRENCY.lower(),
                "description": fee_description,
            }
        ]
        if fee
        else [],
        "status": "pending",
        "available_on": available_on
        if available_on is not None
        else offline_available_on(created),
        "created": created,
        "source": source,
        "type": kind,
        "reporting_category": category,
    }


def charge_bt(
    charge: str, *, amount: int, currency: str, country: str, created: int
) -> dict:
    settled, _ = _settled(amount, currency)
    return _bt(
        f"charge:{charge}",
        source=charge,
        kind="charge",
        category="charge",
        amount=amount,
        currency=currency,
        created=created,
        fee=offline_fee(settled, country),
    )


def refund_bt(refund: str, *, amount: int, currency: str, created: int) -> dict:
    return _bt(
        f"refund:{refund}",
        source=refund,
        kind="refund",
        category="refund",
        amount=-amount,
        currency=currency,
        created=created,
    )


def refund_failure_bt(refund: str, *, amount: int, currency: str, created: int) -> dict:
    return _bt(
        f"refund_failure:{refund}",
        source=refund,
        kind="refund_failure",
        category="refund_failure",
        amount=amount,
        currency=currency,
        created=created,
    )


def dispute_bts(
    dispute: str, *, amount: int, currency: str, created: int, won: bool
) -> list[dict]:
    """The debit (amount and the dispute fee) and, for a won dispute, the credit."""
    bts = [
        _bt(
            f"dispute:{dispute}",
            source=dispute,
            kind="adjustment",
            category="dispute",
            amount=-amount,
            currency=currency,
            created=created,
            fee=OFFLINE_DISPUTE_FEE_PENNIES,
            fee_description="Dispute fee",
        )
    ]
    if won:
        bts.append(
            _bt(
                f"dispute_reversal:{dispute}",
                source=dispute,
                kind="adjustment",
                category="dispute_reversal",
                amount=amount,
                currency=currency,
                created=created,
            )
        )
    return bts


def _card_charge(
    charge_id: str,
    pi_id: str,
    *,
    amount: int,
    currency: str,
    created: int,
    country: str,
    metadata: dict,
    billing_details: dict,
) -> dict:
    """A succeeded card charge, with its balance transaction expanded."""
    return {
        "id": charge_id,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": 0,
        "captured": True,
        "currency": currency,
        "created": created,
        "paid": True,
        "status": "succeeded",
        "payment_intent": pi_id,
        "metadata": metadata,
        "billing_details": billing_details,
        "refunded": False,
        "payment_method_details": {"type": "card", "card": {"country": country}},
        "balance_transaction": charge_bt(
            charge_id,
            amount=amount,
            currency=currency,
            country=country,
            created=created,
        ),
    }


def _payout_object(payout: Payout, **changes) -> dict:
    obj = {
        "id": payout.stripe_payout_id,
        "object": "payout",
        "amount": payout.amount_pennies,
        "currency": payout.currency.lower(),
        "arrival_date": int(
            dt.datetime.combine(
                payout.arrival_date, dt.time(), tzinfo=dt.UTC
            ).timestamp()
        ),
        "automatic": True,
        "balance_transaction": payout.stripe_balance_transaction_id,
        "created": int(payout.stripe_created.timestamp()),
        "method": "standard",
        "status": payout.status,
        "type": "bank_account",
        "failure_code": None,
        "failure_message": None,
        "failure_balance_transaction": None,
        "reconciliation_status": payout.reconciliation_status or "in_progress",
    }
    obj.update(changes)
    return obj


def _bt_object(bt: BalanceTransaction, **changes) -> dict:
    obj = {
        "id": bt.stripe_id,
        "object": "balance_transaction",
        "amount": bt.amount_pennies,
        "fee": bt.fee_pennies,
        "net": bt.net_pennies,
        "currency": bt.currency.lower(),
        "exchange_rate": float(bt.exchange_rate) if bt.exchange_rate else None,
        "fee_details": bt.fee_details,
        "status": bt.status,
        "available_on": int(bt.available_on.timestamp()),
        "created": int(bt.stripe_created.timestamp()),
        "source": bt.source_id,
        "type": bt.type,
        "reporting_category": bt.reporting_category,
    }
    obj.update(changes)
    return obj


def _offline_payouts():
    return Payout.objects.filter(stripe_payout_id__startswith="po_offline")


def _payout_window(created: dt.datetime, *, payout: str = ""):
    """The balance transactions a payout made at `created` pays out: those that
    became available since the previous payout of the same kind (the simulator's,
    or an imported history's), up to `created`, and not paid out by another."""
    same_kind = (
        _offline_payouts()
        if not payout or payout.startswith("po_offline")
        else Payout.objects.exclude(stripe_payout_id__startswith="po_offline")
    )
    before = (
        same_kind.filter(stripe_created__lt=created)
        .order_by("-stripe_created")
        .values_list("stripe_created", flat=True)
        .first()
    )
    in_no_other = Q(payout_stripe_id="")
    if payout:
        in_no_other |= Q(payout_stripe_id=payout)
    lines = BalanceTransaction.objects.filter(
        in_no_other, available_on__lte=created
    ).exclude(type="payout")
    if before is not None:
        lines = lines.filter(available_on__gt=before)
    return lines.order_by("stripe_id")


class OfflineGateway:
    """Offline payments for dev, demo and tests: a local checkout page and signed
    Stripe-shaped events delivered after the current transaction commits."""

    @network_call
    def create_checkout_session(
        self, *, order: Order, success_url: str, cancel_url: str, attempt: int
    ) -> CheckoutSession:
        session_id = _stripe_id(
            "cs_test", f"{order.pk}:{attempt}:{secrets.token_hex(4)}"
        )
        return CheckoutSession(
            id=session_id,
            url=reverse("payments:offline_checkout", args=[session_id]),
        )

    @network_call
    def expire_checkout_session(self, *, session_id: str) -> None:
        order = Order.objects.filter(stripe_checkout_session_id=session_id).first()
        events = [
            event_envelope(
                "checkout.session.expired",
                self._session(session_id, order, status="expired", payment_intent=None),
            )
        ]
        transaction.on_commit(lambda: deliver(events))

    def pay(self, *, order: Order, session_id: str, decline: bool = False) -> None:
        """What Stripe sends when the customer pays (or the card is declined)."""
        pi_id, charge_id = _stripe_id("pi"), _stripe_id("ch")
        now = int(time.time())
        amount, currency = order.total_pennies, order.currency.lower()
        if decline:
            intent = self._intent(order, pi_id, None, "requires_payment_method", now)
            intent["last_payment_error"] = {
                "type": "card_error",
                "code": "card_declined",
                "decline_code": "generic_decline",
                "message": "Your card was declined.",
                "charge": charge_id,
            }
            events = [
                event_envelope("payment_intent.payment_failed", intent, created=now)
            ]
        else:
            charge = _card_charge(
                charge_id,
                pi_id,
                amount=amount,
                currency=currency,
                created=now,
                country=order.shipping_country,
                metadata=order_metadata(order),
                billing_details={"email": order.email, "name": order.shipping_name},
            )
            events = [
                event_envelope(
                    "checkout.session.completed",
                    self._session(
                        session_id, order, status="complete", payment_intent=pi_id
                    ),
                    created=now,
                ),
                event_envelope(
                    "payment_intent.succeeded",
                    self._intent(order, pi_id, charge_id, "succeeded", now),
                    created=now,
                ),
                event_envelope("charge.succeeded", charge, created=now),
            ]
        transaction.on_commit(lambda: deliver(events))

    def pay_by_link(self, *, amount_pennies: int, currency: str, email: str) -> str:
        """A Payment Link paid from outside the shop (no order), possibly in another
        currency: the PaymentIntent and its charge, with the charge's balance
        transaction settled in the store currency (UK card pricing). Returns the
        PaymentIntent id."""
        pi_id, charge_id = _stripe_id("pi"), _stripe_id("ch")
        now, currency = int(time.time()), currency.lower()
        intent = {
            "id": pi_id,
            "object": "payment_intent",
            "amount": amount_pennies,
            "amount_received": amount_pennies,
            "currency": currency,
            "created": now,
            "status": "succeeded",
            "latest_charge": charge_id,
            "metadata": {},
            "receipt_email": email,
        }
        charge = _card_charge(
            charge_id,
            pi_id,
            amount=amount_pennies,
            currency=currency,
            created=now,
            country="GB",
            metadata={},
            billing_details={"email": email},
        )
        events = [
            event_envelope("payment_intent.succeeded", intent, created=now),
            event_envelope("charge.succeeded", charge, created=now),
        ]
        transaction.on_commit(lambda: deliver(events))
        return pi_id

    def pay_by_bank(self, *, order: Order, session_id: str) -> str:
        """What Stripe sends when the customer chooses a delayed method (a bank
        debit): the session completes unpaid and the PaymentIntent is processing.
        Returns the PaymentIntent id for `settle_bank_payment`."""
        pi_id = _stripe_id("pi")
        now = int(time.time())
        session = self._session(
            session_id, order, status="complete", payment_intent=pi_id
        )
        session["payment_status"] = "unpaid"
        events = [
            event_envelope("checkout.session.completed", session, created=now),
            event_envelope(
                "payment_intent.processing",
                self._intent(order, pi_id, None, "processing", now),
                created=now,
            ),
        ]
        transaction.on_commit(lambda: deliver(events))
        return pi_id

    def settle_bank_payment(
        self, *, order: Order, session_id: str, payment_intent: str, succeeded: bool
    ) -> None:
        """What Stripe sends when a bank debit clears (the PaymentIntent succeeds,
        then the session's async_payment_succeeded) or fails."""
        now = int(time.time())
        session = self._session(
            session_id, order, status="complete", payment_intent=payment_intent
        )
        if succeeded:
            charge_id = _stripe_id("ch")
            amount, currency = order.total_pennies, order.currency.lower()
            charge = {
                "id": charge_id,
                "object": "charge",
                "amount": amount,
                "amount_captured": amount,
                "captured": True,
                "currency": currency,
                "created": now,
                "paid": True,
                "status": "succeeded",
                "payment_intent": payment_intent,
                "metadata": order_metadata(order),
                "payment_method_details": {"type": "bacs_debit"},
                # Bank debits: UK pricing, whatever the address.
                "balance_transaction": charge_bt(
                    charge_id,
                    amount=amount,
                    currency=currency,
                    country="GB",
                    created=now,
                ),
            }
            events = [
                event_envelope(
                    "payment_intent.succeeded",
                    self._intent(order, payment_intent, charge_id, "succeeded", now),
                    created=now,
                ),
                event_envelope("charge.succeeded", charge, created=now),
                event_envelope(
                    "checkout.session.async_payment_succeeded",
                    dict(session, payment_status="paid"),
                    created=now,
                ),
            ]
        else:
            intent = self._intent(
                order, payment_intent, None, "requires_payment_method", now
            )
            intent["last_payment_error"] = {
                "type": "card_error",
                "code": "debit_not_authorized",
                "message": "The bank payment did not go through.",
            }
            events = [
                event_envelope("payment_intent.payment_failed", intent, created=now),
                event_envelope(
                    "checkout.session.async_payment_failed",
                    dict(session, payment_status="unpaid"),
                    created=now,
                ),
            ]
        transaction.on_commit(lambda: deliver(events))

    def fail_refund(self, *, refund: Refund) -> None:
        """What Stripe sends when a refund that succeeded fails afterwards (the
        bank returned it): `refund.failed` for the ledger's refund, dated now."""
        now = int(time.time())
        order = refund.payment.order if refund.payment_id else None
        failed = dict(
            {
                "id": refund.stripe_refund_id,
                "object": "refund",
                "amount": refund.amount_pennies,
                "charge": refund.stripe_charge_id,
                "payment_intent": refund.stripe_payment_intent,
                "currency": refund.currency.lower(),
                "created": int(refund.stripe_created.timestamp()),
                "reason": refund.reason or None,
                "metadata": {"order_id": str(order.pk)} if order else {},
            },
            status="failed",
            failure_reason="lost_or_stolen_card",
            failure_balance_transaction=refund_failure_bt(
                refund.stripe_refund_id,
                amount=refund.amount_pennies,
                currency=refund.currency.lower(),
                created=now,
            ),
        )
        events = [event_envelope("refund.failed", failed, created=now)]
        transaction.on_commit(lambda: deliver(events))

    @network_call
    def create_refund(
        self,
        *,
        payment_intent: str,
        charge: str,
        amount_pennies: int,
        reason: str,
        idempotency_key: str,
        metadata: dict,
        charge_amount_pennies: int = 0,
        refunded_before_pennies: int = 0,
    ) -> dict:
        """Answers as Stripe does (the same refund for the same key), then confirms it
        with refund.created and charge.refunded events after commit."""
        now = int(time.time())
        refund = {
            "id": _stripe_id("re", idempotency_key),
            "object": "refund",
            "amount": amount_pennies,
            "charge": charge,
            "payment_intent": payment_intent,
            "currency": settings.STORE_CURRENCY.lower(),
            "created": now,
            "reason": reason or None,
            "status": "pending",
            "metadata": metadata,
        }
        confirmed = dict(
            refund,
            status="succeeded",
            balance_transaction=refund_bt(
                refund["id"],
                amount=amount_pennies,
                currency=refund["currency"],
                created=now,
            ),
        )
        # From API 2022-11-15 charge.refunded no longer lists the refunds.
        charge_obj = {
            "id": charge,
            "object": "charge",
            "amount": charge_amount_pennies,
            "amount_refunded": refunded_before_pennies + amount_pennies,
            "currency": refund["currency"],
            "payment_intent": payment_intent,
            "created": now,
            "status": "succeeded",
            "captured": True,
            "refunded": refunded_before_pennies + amount_pennies
            >= charge_amount_pennies,
        }
        events = [
            event_envelope("refund.created", confirmed, created=now),
            event_envelope("charge.refunded", charge_obj, created=now),
        ]
        transaction.on_commit(lambda: deliver(events))
        return refund

    def open_dispute(
        self, *, charge: str, amount_pennies: int, currency: str, outcome: str = ""
    ) -> None:
        """What Stripe sends when a card holder disputes a charge (demo and tests):
        created and funds withdrawn; with `outcome` "won" or "lost", the close too."""
        now = int(time.time())
        dispute = {
            "id": _stripe_id("dp"),
            "object": "dispute",
            "amount": amount_pennies,
            "charge": charge,
            "currency": currency.lower(),
            "created": now,
            "reason": "fraudulent",
            "status": "needs_response",
            "balance_transactions": [],
        }
        bts = dispute_bts(
            dispute["id"],
            amount=amount_pennies,
            currency=currency,
            created=now,
            won=outcome == "won",
        )
        withdrawn = dict(dispute, balance_transactions=bts[:1])
        events = [
            event_envelope("charge.dispute.created", dispute, created=now),
            event_envelope("charge.dispute.funds_withdrawn", withdrawn, created=now),
        ]
        if outcome == "won":
            back = dict(
                withdrawn,
                status="won",
                balance_transactions=bts,
            )
            events += [
                event_envelope("charge.dispute.funds_reinstated", back, created=now),
                event_envelope("charge.dispute.closed", back, created=now),
            ]
        elif outcome == "lost":
            events.append(
                event_envelope(
                    "charge.dispute.closed", dict(withdrawn, status="lost"), created=now
                )
            )
        transaction.on_commit(lambda: deliver(events))

    # Money to the bank. Offline, Stripe's balance is the balance transactions the
    # simulator minted (in the events it delivered, so in the ledger): a payout pays
    # what became available since the previous one, as Stripe's daily schedule does.

    def run_payouts(self) -> list[dict]:
        """Stripe's daily automatic payouts, offline, as of now: each payout due
        (arrival date reached) is paid; and once a day, at 00:00 UTC, a payout of
        the balance that became available since the previous payout is created
        (none when it is not positive: it waits for the next day), arriving the
        next day. Events are dated by Stripe's times, delivered after commit."""
        now = int(time.time())
        cutoff = now // DAY * DAY
        events = []
        due = _offline_payouts().filter(
            status__in=[Payout.Status.PENDING, Payout.Status.IN_TRANSIT],
            arrival_date__lte=dt.datetime.fromtimestamp(now, tz=dt.UTC).date(),
        )
        for payout in due.order_by("stripe_created"):
            paid = _payout_object(
                payout, status="paid", reconciliation_status="completed"
            )
            events.append(
                event_envelope("payout.paid", paid, created=paid["arrival_date"])
            )
        created_at = dt.datetime.fromtimestamp(cutoff, tz=dt.UTC)
        if not _offline_payouts().filter(stripe_created__gte=created_at).exists():
            total = sum(
                _payout_window(created_at).values_list("net_pennies", flat=True)
            )
            if total > 0:
                payout_id = _stripe_id("po", f"payout:{cutoff}")
                own = _bt(
                    f"payout:{payout_id}",
                    source=payout_id,
                    kind="payout",
                    category="payout",
                    amount=-total,
                    currency=settings.STORE_CURRENCY,
                    created=cutoff,
                    available_on=cutoff,
                )
                payout = {
                    "id": payout_id,
                    "object": "payout",
                    "amount": total,
                    "currency": settings.STORE_CURRENCY.lower(),
                    "arrival_date": cutoff + DAY,
                    "automatic": True,
                    "balance_transaction": own,
                    "created": cutoff,
                    "method": "standard",
                    "status": "pending",
                    "type": "bank_account",
                    "failure_code": None,
                    "failure_message": None,
                    "failure_balance_transaction": None,
                    "reconciliation_status": "in_progress",
                }
                events.append(event_envelope("payout.created", payout, created=cutoff))
        if events:
            transaction.on_commit(lambda: deliver(events))
        return events

    def fail_payout(self, *, payout_id: str, code: str = "account_closed") -> None:
        """What Stripe sends when the bank returns a payout: payout.failed, the funds
        back in the balance (a payout_failure balance transaction available at
        once, so the next payout pays them again)."""
        now = int(time.time())
        payout = Payout.objects.get(stripe_payout_id=payout_id)
        failure = _bt(
            f"payout_failure:{payout_id}",
            source=payout_id,
            kind="payout_failure",
            category="payout_reversal",
            amount=payout.amount_pennies,
            currency=payout.currency,
            created=now,
            available_on=now,
        )
        failed = _payout_object(
            payout,
            status="failed",
            failure_code=code,
            failure_message="The bank account has been closed.",
            failure_balance_transaction=failure,
        )
        events = [event_envelope("payout.failed", failed, created=now)]
        transaction.on_commit(lambda: deliver(events))

    @network_call
    def payout_balance_transactions(self, *, payout: str) -> list[dict]:
        """The payout's own balance transaction and the lines it paid out."""
        record = Payout.objects.get(stripe_payout_id=payout)
        lines = [
            _bt_object(bt, status="available")
            for bt in _payout_window(record.stripe_created, payout=payout)
        ]
        own = BalanceTransaction.objects.filter(source_id=payout, type="payout").first()
        return lines + ([_bt_object(own, status="available")] if own else [])

    @network_call
    def charge_balance_transaction(self, *, charge: str) -> dict | None:
        payment = (
            Payment.objects.filter(stripe_charge_id=charge)
            .select_related("order")
            .first()
        )
        if payment is None:
            return None
        return charge_bt(
            charge,
            amount=payment.amount_pennies,
            currency=payment.currency,
            country=payment.order.shipping_country if payment.order else "GB",
            created=int(payment.paid_at.timestamp()),
        )

    @network_call
    def refund_balance_transaction(self, *, refund: str) -> dict | None:
        row = Refund.objects.filter(stripe_refund_id=refund).first()
        if row is None or row.status != Refund.Status.SUCCEEDED:
            return None
        return refund_bt(
            refund,
            amount=row.amount_pennies,
            currency=row.currency,
            created=int(row.stripe_created.timestamp()),
        )

    @network_call
    def dispute_balance_transactions(self, *, dispute: str) -> list[dict]:
        row = Dispute.objects.filter(stripe_dispute_id=dispute).first()
        if row is None or not row.funds_withdrawn_at:
            return []
        return dispute_bts(
            dispute,
            amount=row.funds_withdrawn_pennies,
            currency=row.currency,
            created=int(row.funds_withdrawn_at.timestamp()),
            won=row.funds_reinstated_pennies > 0,
        )

    # Subscriptions. Stripe keeps a subscription's state; offline, the last
    # customer.subscription.* event sent for it (in the inbox) is that state.

    @network_call
    def create_subscription_checkout(
        self,
        *,
        customer,
        variant: Variant,
        success_url: str,
        cancel_url: str,
        idempotency_key: str,
        stripe_customer_id: str = "",
    ) -> CheckoutSession:
        """The session lives in its signed URL (Stripe would keep it): a local page
        where Subscribe sends what Stripe sends. Writes nothing. The URL holds no
        personal data (it reaches access logs): the customer's email is added from
        their own account when they open it (`with_customer_email`)."""
        product = variant.product
        session = {
            "id": _stripe_id("cs_test", idempotency_key),
            "customer": stripe_customer_id or _stripe_id("cus", f"user:{customer.pk}"),
            "name": str(variant),
            "unit_amount": variant.price_pennies,
            "currency": product.currency.lower(),
            "interval": product.billing_interval,
            "metadata": subscription_metadata(customer, variant),
            "success_url": success_url,
            "cancel_url": cancel_url,
        }
        token = signing.dumps(session, salt=OFFLINE_SUBSCRIPTION_SALT, compress=True)
        return CheckoutSession(
            id=session["id"],
            url=reverse("payments:offline_subscription_checkout", args=[token]),
        )

    @staticmethod
    def with_customer_email(session: dict, user) -> dict:
        """The session as Stripe would hold it: with its customer's email."""
        return {**session, "customer_email": user.email if user else ""}

    @staticmethod
    def subscription_session(token: str) -> dict | None:
        """The session a signed offline URL holds; None when forged or expired."""
        try:
            return signing.loads(
                token, salt=OFFLINE_SUBSCRIPTION_SALT, max_age=OFFLINE_SESSION_SECONDS
            )
        except signing.BadSignature:
            return None

    def subscribe(self, *, session: dict) -> str:
        """What Stripe sends when the customer completes a subscription checkout:
        checkout.session.completed, customer.subscription.created and invoice.paid
        for the first period, delivered after commit. The ids follow from the
        session, so a second Subscribe repeats the same subscription and invoice.
        Returns the subscription id."""
        if not session.get("customer_email"):  # the URL's session holds none
            user = User.objects.filter(pk=session["metadata"]["user_id"]).first()
            session = self.with_customer_email(session, user)
        now = int(time.time())
        sub_id = _stripe_id("sub", session["id"])
        variant_id = session["metadata"]["variant_id"]
        price = {
            "id": _stripe_id(
                "price",
                f"{variant_id}:{session['unit_amount']}:{session['interval']}",
            ),
            "object": "price",
            "currency": session["currency"],
            "unit_amount": session["unit_amount"],
            "type": "recurring",
            "recurring": {"interval": session["interval"], "interval_count": 1},
            "product": _stripe_id("prod", f"variant:{variant_id}"),
        }
        item = {
            "id": _stripe_id("si", sub_id),
            "object": "subscription_item",
            "subscription": sub_id,
            "quantity": 1,
            "price": price,
            "current_period_start": now,
            "current_period_end": period_end(now, session["interval"], 1, 1),
        }
        subscription = {
            "id": sub_id,
            "object": "subscription",
            "customer": session["customer"],
            "status": "active",
            "currency": session["currency"],
            "created": now,
            "start_date": now,
            "billing_cycle_anchor": now,
            "collection_method": "charge_automatically",
            "cancel_at_period_end": False,
            "cancel_at": None,
            "canceled_at": None,
            "ended_at": None,
            "metadata": session["metadata"],
            "items": {"object": "list", "data": [item]},
        }
        invoice = self._invoice(
            subscription, email=session["customer_email"], reason="subscription_create"
        )
        subscription["latest_invoice"] = invoice["id"]
        completed = {
            "id": session["id"],
            "object": "checkout.session",
            "mode": "subscription",
            "status": "complete",
            "payment_status": "paid",
            "amount_total": session["unit_amount"],
            "currency": session["currency"],
            "client_reference_id": session["metadata"]["user_id"],
            "customer": session["customer"],
            "customer_email": session["customer_email"],
            "metadata": session["metadata"],
            "subscription": sub_id,
            "invoice": invoice["id"],
            "payment_intent": None,
        }
        events = [
            event_envelope("checkout.session.completed", completed, created=now),
            event_envelope("customer.subscription.created", subscription, created=now),
            event_envelope("invoice.paid", invoice, created=now),
            self._invoice_charge(invoice, created=now),
        ]
        transaction.on_commit(lambda: deliver(events))
        return sub_id

    @network_call
    def cancel_subscription_at_period_end(self, *, subscription_id: str) -> dict:
        """Answers with the updated subscription as Stripe does, and confirms it with
        customer.subscription.updated after commit."""
        subscription, seen = self._subscription_state(subscription_id)
        # Dated after what was last said of it (Stripe's clock moves on between
        # requests), so the update is the newest state even within one second.
        now = max(int(time.time()), seen + 1)
        subscription.update(
            cancel_at_period_end=True,
            cancel_at=subscription["items"]["data"][0]["current_period_end"],
            canceled_at=now,
        )
        events = [
            event_envelope("customer.subscription.updated", subscription, created=now)
        ]
        transaction.on_commit(lambda: deliver(events))
        return subscription

    @network_call
    def cancel_subscription_now(self, *, subscription_id: str) -> dict:
        """Ends the subscription at once, as Stripe's DELETE does: answers with the
        canceled subscription and confirms it with customer.subscription.deleted."""
        subscription, seen = self._subscription_state(subscription_id)
        now = max(int(time.time()), seen + 1)
        subscription.update(
            status="canceled",
            canceled_at=now,
            ended_at=now,
            cancel_at_period_end=False,
        )
        events = [
            event_envelope("customer.subscription.deleted", subscription, created=now)
        ]
        transaction.on_commit(lambda: deliver(events))
        return subscription

    def renew_subscription(
        self, *, subscription_id: str, until: int, customer_email: str = ""
    ) -> list[dict]:
        """What Stripe sends at each period end up to `until` (a Unix time): for a
        renewal, invoice.paid for the next period and customer.subscription.updated
        moving the period; for a subscription set to cancel at period end,
        customer.subscription.deleted. Each is dated at its period end, delivered
        after commit, and returned. The invoice ids follow from the period, so a
        repeated run repeats the same invoices."""
        subscription, seen = self._subscription_state(subscription_id)
        events = []
        while subscription["status"] in RENEWING:
            item = subscription["items"]["data"][0]
            end = item["current_period_end"]
            if end > until:
                break
            seen = max(end, seen + 1)
            if subscription.get("cancel_at_period_end"):
                subscription.update(
                    status="canceled",
                    ended_at=end,
                    canceled_at=subscription.get("canceled_at") or end,
                )
                events.append(
                    event_envelope(
                        "customer.subscription.deleted", subscription, created=seen
                    )
                )
                break
            recurring = item["price"]["recurring"]
            item.update(
                current_period_start=end,
                current_period_end=_next_period_end(
                    subscription.get("billing_cycle_anchor") or end,
                    end,
                    recurring["interval"],
                    recurring.get("interval_count") or 1,
                ),
            )
            invoice = self._invoice(
                subscription, email=customer_email, reason="subscription_cycle"
            )
            subscription["latest_invoice"] = invoice["id"]
            events += [
                event_envelope("invoice.paid", invoice, created=seen),
                self._invoice_charge(invoice, created=seen),
                event_envelope(
                    "customer.subscription.updated",
                    copy.deepcopy(subscription),
                    created=seen,
                ),
            ]
        if events:
            transaction.on_commit(lambda: deliver(events))
        return events

    @staticmethod
    def _subscription_state(subscription_id: str) -> tuple[dict, int]:
        """The subscription as last sent, and that event's time."""
        event = (
            StripeEvent.objects.filter(
                object_id=subscription_id, type__startswith="customer.subscription."
            )
            .order_by("-stripe_created", "-id")
            .first()
        )
        if event is None:
            raise stripe.InvalidRequestError(
                f"No such subscription: '{subscription_id}'", "id"
            )
        return copy.deepcopy(event.payload["data"]["object"]), event.payload["created"]

    @staticmethod
    def _invoice(subscription: dict, *, email: str, reason: str) -> dict:
        """The paid invoice for the subscription's current period (API 2025-03-31
        shape: the subscription under `parent`), paid at the period's start."""
        item = subscription["items"]["data"][0]
        price = item["price"]
        start, end = item["current_period_start"], item["current_period_end"]
        amount = price["unit_amount"] * item.get("quantity", 1)
        invoice_id = _stripe_id("in", f"{subscription['id']}:{start}")
        return {
            "id": invoice_id,
            "object": "invoice",
            "charge": _stripe_id("ch", invoice_id),
            "customer": subscription["customer"],
            "customer_email": email or None,
            "currency": price["currency"],
            "amount_due": amount,
            "amount_paid": amount,
            "amount_remaining": 0,
            "total": amount,
            "billing_reason": reason,
            "status": "paid",
            "created": start,
            "status_transitions": {"finalized_at": start, "paid_at": start},
            "parent": {
                "type": "subscription_details",
                "subscription_details": {
                    "subscription": subscription["id"],
                    "metadata": subscription.get("metadata") or {},
                },
            },
            "lines": {
                "object": "list",
                "data": [
                    {
                        "id": _stripe_id("il", invoice_id),
                        "object": "line_item",
                        "amount": amount,
                        "currency": price["currency"],
                        "quantity": item.get("quantity", 1),
                        "period": {"start": start, "end": end},
                        "parent": {
                            "type": "subscription_item_details",
                            "subscription_item_details": {
                                "subscription": subscription["id"],
                                "subscription_item": item["id"],
                            },
                        },
                    }
                ],
            },
        }

    @staticmethod
    def _invoice_charge(invoice: dict, *, created: int) -> dict:
        """charge.succeeded for an invoice's charge, with its balance transaction."""
        paid_at = invoice["status_transitions"]["paid_at"]
        charge = {
            "id": invoice["charge"],
            "object": "charge",
            "amount": invoice["amount_paid"],
            "amount_captured": invoice["amount_paid"],
            "captured": True,
            "currency": invoice["currency"],
            "created": paid_at,
            "customer": invoice["customer"],
            "invoice": invoice["id"],
            "paid": True,
            "status": "succeeded",
            "payment_method_details": {"type": "card", "card": {"country": "GB"}},
            "balance_transaction": charge_bt(
                invoice["charge"],
                amount=invoice["amount_paid"],
                currency=invoice["currency"],
                country="GB",
                created=paid_at,
            ),
        }
        return event_envelope("charge.succeeded", charge, created=created)

    @staticmethod
    def _intent(order, pi_id, charge_id, status, now):
        return {
            "id": pi_id,
            "object": "payment_intent",
            "amount": order.total_pennies,
            "amount_received": order.total_pennies if status == "succeeded" else 0,
            "currency": order.currency.lower(),
            "created": now,
            "status": status,
            "latest_charge": charge_id,
            "metadata": order_metadata(order),
            "receipt_email": order.email,
        }

    @staticmethod
    def _session(session_id, order, *, status, payment_intent):
        return {
            "id": session_id,
            "object": "checkout.session",
            "mode": "payment",
            "status": status,
            "payment_status": "paid" if status == "complete" else "unpaid",
            "amount_total": order.total_pennies if order else None,
            "currency": order.currency.lower() if order else None,
            "client_reference_id": str(order.pk) if order else None,
            "customer_email": order.email if order else None,
            "metadata": order_metadata(order) if order else {},
            "payment_intent": payment_intent,
        }
