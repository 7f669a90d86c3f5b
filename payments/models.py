from django.conf import settings
from django.db import models
from django.db.models import Q

from core.models import TimeStampedModel
from orders.models import Order


class StripeEvent(models.Model):
    """The webhook inbox: every verified event, once, with what became of it."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        PENDING = "pending", "Pending (waits for another event)"
        FAILED = "failed", "Failed"
        IGNORED = "ignored", "Ignored (no handler)"

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100, db_index=True)
    api_version = models.CharField(max_length=50, blank=True)
    livemode = models.BooleanField(default=False)
    stripe_created = models.DateTimeField(help_text="Stripe's `created` of the event.")
    object_id = models.CharField(max_length=255, blank=True, db_index=True)
    payload = models.JSONField()
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.RECEIVED, db_index=True
    )
    awaiting = models.CharField(
        max_length=255,
        blank=True,
        db_index=True,
        help_text="While pending: the Stripe id (charge, PaymentIntent) it waits for.",
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-stripe_created", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    status__in=["received", "processed", "pending", "failed", "ignored"]
                ),
                name="stripe_event_status_valid",
            )
        ]

    def __str__(self):
        return f"{self.event_id} {self.type} ({self.status})"


class Payment(TimeStampedModel):
    """Money that moved: one per succeeded PaymentIntent, or charge without one."""

    class Source(models.TextChoices):
        ORDER = "order", "Order"
        SUBSCRIPTION = "subscription", "Subscription invoice"
        OTHER = "other", "Outside the shop (Payment Link, Dashboard, invoice)"

    # NULL, not "", where absent: unique constraints ignore NULLs.
    stripe_payment_intent = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    stripe_charge_id = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    stripe_invoice_id = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    stripe_customer_id = models.CharField(max_length=255, blank=True)
    stripe_subscription_id = models.CharField(
        max_length=255, blank=True, db_index=True, help_text="For invoice payments."
    )
    order = models.ForeignKey(
        Order, null=True, blank=True, on_delete=models.PROTECT, related_name="payments"
    )
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payments",
    )
    source = models.CharField(max_length=12, choices=Source.choices)
    amount_pennies = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    paid_at = models.DateTimeField(
        db_index=True,
        help_text="When Stripe says the money moved (ARCHITECTURE.md: revenue time).",
    )
    applied = models.BooleanField(
        default=False, help_text="This payment marked its order paid."
    )
    problem = models.CharField(
        max_length=32,
        blank=True,
        help_text="Why it did not mark its order paid (oversell, amount_mismatch…).",
    )

    class Meta:
        ordering = ["-paid_at", "-id"]
        indexes = [
            # A customer's payments in time, by kind: the customer-day snapshots'
            # lifetime counts and first paid days, and wishlist conversions, read
            # from the index alone (an index-only scan per customer).
            models.Index(
                fields=["customer", "source", "currency", "applied", "paid_at"],
                name="payment_customer_time_idx",
            )
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["stripe_payment_intent"], name="payment_one_per_payment_intent"
            ),
            models.UniqueConstraint(
                fields=["stripe_charge_id"], name="payment_one_per_charge"
            ),
            models.UniqueConstraint(
                fields=["stripe_invoice_id"], name="payment_one_per_invoice"
            ),
            models.CheckConstraint(
                condition=Q(stripe_payment_intent__isnull=False)
                | Q(stripe_charge_id__isnull=False)
                | Q(stripe_invoice_id__isnull=False),
                name="payment_has_a_stripe_id",
            ),
            models.CheckConstraint(
                condition=Q(amount_pennies__gte=0), name="payment_amount_not_negative"
            ),
        ]

    def __str__(self):
        return (
            self.stripe_payment_intent
            or self.stripe_charge_id
            or self.stripe_invoice_id
        )

    @property
    def stripe_id(self) -> str:
        return str(self)


class Refund(TimeStampedModel):
    """One Stripe refund, upserted by its id (the refund id is the idempotency key)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        REQUIRES_ACTION = "requires_action", "Requires action"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELED = "canceled", "Canceled"

    stripe_refund_id = models.CharField(max_length=255, unique=True)
    payment = models.ForeignKey(
        Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="refunds"
    )
    stripe_charge_id = models.CharField(max_length=255, blank=True, db_index=True)
    stripe_payment_intent = models.CharField(max_length=255, blank=True, db_index=True)
    amount_pennies = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=Status.choices)
    status_at = models.DateTimeField(
        help_text="Stripe time of the newest status seen; older news never wins."
    )
    reason = models.CharField(max_length=64, blank=True)
    stripe_created = models.DateTimeField(
        db_index=True, help_text="The refund's own `created`: when it counts."
    )
    idempotency_key = models.CharField(
        max_length=255, null=True, blank=True, unique=True
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT
    )
    restock = models.JSONField(
        default=dict, blank=True, help_text="{variant id: units} to return on success."
    )
    restocked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-stripe_created", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_pennies__gte=0), name="refund_amount_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(
                    status__in=[
                        "pending",
                        "requires_action",
                        "succeeded",
                        "failed",
                        "canceled",
                    ]
                ),
                name="refund_status_valid",
            ),
        ]

    def __str__(self):
        return f"{self.stripe_refund_id} {self.amount_pennies} {self.status}"


class RefundRequest(TimeStampedModel):
    """A refund ops asked for, recorded before Stripe is called (its idempotency
    key), so a crash between asking and hearing back leaves a request that the
    answer, the webhook or the sweep completes — never a second refund."""

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested (Stripe not answered yet)"
        SENT = "sent", "Sent (Stripe made the refund)"
        REFUSED = "refused", "Refused by Stripe"

    idempotency_key = models.CharField(max_length=255, unique=True)
    order = models.ForeignKey(
        Order, on_delete=models.PROTECT, related_name="refund_requests"
    )
    payment = models.ForeignKey(
        "Payment", on_delete=models.PROTECT, related_name="refund_requests"
    )
    amount_pennies = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    reason = models.CharField(max_length=64, blank=True)
    restock = models.JSONField(
        default=dict, blank=True, help_text="{variant id: units} to return on success."
    )
    lines = models.JSONField(
        default=dict,
        blank=True,
        help_text="{variant id: units} refunded by line (empty for a free amount).",
    )
    shipping_pennies = models.BigIntegerField(
        default=0, help_text="The shipping charge refunded with this request."
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT
    )
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.REQUESTED
    )
    # NULL until Stripe answers: unique constraints ignore NULLs.
    stripe_refund_id = models.CharField(
        max_length=255, null=True, blank=True, unique=True
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_pennies__gt=0),
                name="refund_request_amount_positive",
            ),
            models.CheckConstraint(
                condition=Q(shipping_pennies__gte=0),
                name="refund_request_shipping_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["requested", "sent", "refused"]),
                name="refund_request_status_valid",
            ),
        ]

    def __str__(self):
        return f"{self.idempotency_key} {self.amount_pennies} {self.status}"


# Stripe's dispute states in which nothing more is expected of the merchant.
DISPUTE_CLOSED_STATUSES = frozenset(
    {"won", "lost", "warning_closed", "charge_refunded", "prevented"}
)


class Dispute(TimeStampedModel):
    """A chargeback. Funds withdrawn and reinstated are dated by their events."""

    stripe_dispute_id = models.CharField(max_length=255, unique=True)
    payment = models.ForeignKey(
        Payment,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="disputes",
    )
    stripe_charge_id = models.CharField(max_length=255, db_index=True)
    amount_pennies = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=32)
    status_at = models.DateTimeField()
    reason = models.CharField(max_length=64, blank=True)
    stripe_created = models.DateTimeField()
    funds_withdrawn_pennies = models.BigIntegerField(default=0)
    funds_withdrawn_at = models.DateTimeField(null=True, blank=True)
    funds_reinstated_pennies = models.BigIntegerField(default=0)
    funds_reinstated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-stripe_created", "-id"]

    def __str__(self):
        return f"{self.stripe_dispute_id} {self.status}"

    @property
    def is_open(self) -> bool:
        return self.status not in DISPUTE_CLOSED_STATUSES


class PaymentException(TimeStampedModel):
    """A money case ops must act on: the "needs attention" queue of the ops console."""

    class Kind(models.TextChoices):
        OVERSELL = "oversell", "Paid but out of stock: refund"
        AMOUNT_MISMATCH = "amount_mismatch", "Paid amount differs from the order"
        CURRENCY_MISMATCH = "currency_mismatch", "Paid in another currency"
        DUPLICATE_PAYMENT = "duplicate_payment", "Order paid twice: refund one"
        PAID_AFTER_CANCEL = "paid_after_cancel", "Paid after the order was canceled"
        REFUND_FAILED = "refund_failed", "Refund failed"
        DISPUTE = "dispute", "Dispute opened"

    kind = models.CharField(max_length=20, choices=Kind.choices, db_index=True)
    order = models.ForeignKey(
        Order,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="exceptions",
    )
    payment = models.ForeignKey(
        Payment, null=True, blank=True, on_delete=models.PROTECT
    )
    stripe_ref = models.CharField(
        max_length=255, help_text="The Stripe object it is about (one case each)."
    )
    message = models.TextField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT
    )
    resolution_note = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["resolved_at", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "stripe_ref"], name="payment_exception_one_per_case"
            )
        ]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.stripe_ref}"


class Payout(TimeStampedModel):
    """Money Stripe sends to the merchant's bank: one per Stripe `po_…`.

    Its newest Stripe state wins (`stripe_fields.newest_wins`, by the event's time);
    its balance transactions name it once Stripe lists them (`lines_fetched_at`).
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        IN_TRANSIT = "in_transit", "In transit"
        PAID = "paid", "Paid"
        FAILED = "failed", "Failed"
        CANCELED = "canceled", "Canceled"

    stripe_payout_id = models.CharField(max_length=255, unique=True)
    amount_pennies = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=12, choices=Status.choices)
    status_at = models.DateTimeField(help_text="Stripe's time of the newest state.")
    status_event_id = models.CharField(max_length=255, blank=True)
    arrival_date = models.DateField(null=True, blank=True)
    stripe_created = models.DateTimeField()
    method = models.CharField(max_length=16, blank=True)
    automatic = models.BooleanField(default=True)
    failure_code = models.CharField(max_length=64, blank=True)
    failure_message = models.CharField(max_length=500, blank=True)
    reconciliation_status = models.CharField(
        max_length=16,
        blank=True,
        help_text="Stripe's: not_applicable, in_progress or completed.",
    )
    stripe_balance_transaction_id = models.CharField(max_length=255, blank=True)
    lines_fetched_at = models.DateTimeField(
        null=True, blank=True, help_text="When its balance transactions were listed."
    )

    class Meta:
        ordering = ["-stripe_created", "-id"]
        indexes = [models.Index(fields=["status", "lines_fetched_at"])]

    def __str__(self):
        return f"{self.stripe_payout_id} {self.status}"


class BalanceTransaction(TimeStampedModel):
    """One Stripe balance transaction (`txn_…`): what a charge, refund, dispute debit
    or credit, fee or payout did to the Stripe balance, in the settlement currency.

    Linked by Stripe id, never by foreign key, so the order in which Stripe objects
    arrive cannot matter: `charge_id` to its Payment, `source_id` to its Refund or
    Dispute (or Payout), `payout_stripe_id` to the Payout that paid it out."""

    # Types that move money to or from the bank, not part of a payout's lines.
    PAYOUT_TYPES = ("payout", "payout_cancel", "payout_failure")

    stripe_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=40)
    reporting_category = models.CharField(max_length=40, blank=True)
    amount_pennies = models.BigIntegerField()
    fee_pennies = models.BigIntegerField(default=0)
    net_pennies = models.BigIntegerField()
    currency = models.CharField(max_length=3, help_text="The settlement currency.")
    exchange_rate = models.DecimalField(
        max_digits=24, decimal_places=12, null=True, blank=True
    )
    fee_details = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=12)
    available_on = models.DateTimeField()
    stripe_created = models.DateTimeField(db_index=True)
    source_id = models.CharField(max_length=255, blank=True, db_index=True)
    charge_id = models.CharField(
        max_length=255,
        blank=True,
        db_index=True,
        help_text="The charge it belongs to (a refund's or dispute's charge too).",
    )
    payout_stripe_id = models.CharField(max_length=255, blank=True, db_index=True)

    class Meta:
        ordering = ["-stripe_created", "-id"]

    def __str__(self):
        return f"{self.stripe_id} {self.type} {self.net_pennies}"


class HistoryCheckpoint(TimeStampedModel):
    """How far a history backfill has read one Stripe object list, so a run that
    stops (Ctrl-C, a crash, a storm of 429s) resumes there
    (`payments.services.backfill`)."""

    source = models.CharField(
        max_length=255, help_text='"api", or "dir:" and the directory read.'
    )
    resource = models.CharField(max_length=32, help_text="Stripe's list name.")
    cursor = models.CharField(
        max_length=255,
        blank=True,
        help_text="The last object id read (api) or the last line (dir).",
    )
    count = models.BigIntegerField(default=0, help_text="Objects read so far.")
    touched_from = models.DateField(
        null=True, blank=True, help_text="The first business day its money touched."
    )
    touched_to = models.DateField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["source", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "resource"], name="history_checkpoint_once"
            )
        ]

    def __str__(self):
        return f"{self.source} {self.resource} at {self.cursor or 'start'}"
