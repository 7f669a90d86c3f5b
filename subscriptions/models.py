from django.conf import settings
from django.db import models

from core.models import TimeStampedModel


class Subscription(TimeStampedModel):
    """A Stripe subscription as Stripe last told us (the newest Stripe time wins)."""

    class Status(models.TextChoices):
        TRIALING = "trialing", "Trialing"
        ACTIVE = "active", "Active"
        PAST_DUE = "past_due", "Past due"
        UNPAID = "unpaid", "Unpaid"
        CANCELED = "canceled", "Canceled"
        INCOMPLETE = "incomplete", "Incomplete"
        INCOMPLETE_EXPIRED = "incomplete_expired", "Incomplete, expired"
        PAUSED = "paused", "Paused"

    stripe_subscription_id = models.CharField(max_length=255, unique=True)
    stripe_customer_id = models.CharField(max_length=255, blank=True, db_index=True)
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="subscriptions",
    )
    variant = models.ForeignKey(
        "catalog.Variant",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="subscriptions",
        help_text="What the customer subscribed to in our shop (metadata.variant_id).",
    )
    status = models.CharField(max_length=20, choices=Status.choices)
    currency = models.CharField(max_length=3, blank=True)
    items = models.JSONField(default=list)
    mrr_pennies = models.BigIntegerField(
        default=0, help_text="Normalised to a month; 0 unless active or past due."
    )
    started_at = models.DateTimeField(null=True, blank=True)
    current_period_start = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    cancel_at = models.DateTimeField(null=True, blank=True)
    canceled_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    stripe_seen_at = models.DateTimeField(
        help_text="Stripe time of the event whose object this row holds."
    )
    stripe_seen_event = models.CharField(max_length=255)
    cancel_requested_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When we asked Stripe to cancel at period end.",
    )

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self):
        return f"{self.stripe_subscription_id} {self.status} {self.mrr_pennies}"

    @property
    def is_live(self) -> bool:
        """Still billing or able to bill again: it can be canceled."""
        return self.status in LIVE_STATUSES

    @property
    def cancel_pending(self) -> bool:
        """Cancellation asked for, and Stripe has not told us anything since."""
        return (
            self.cancel_requested_at is not None
            and not self.cancel_at_period_end
            and self.is_live
            # Stripe's times are whole seconds: one in the same second may be older.
            and self.stripe_seen_at <= self.cancel_requested_at
        )

    @property
    def plan(self) -> dict:
        """The first item's price: unit_amount, interval, interval_count, quantity."""
        return self.items[0] if self.items else {}


LIVE_STATUSES = {
    Subscription.Status.TRIALING,
    Subscription.Status.ACTIVE,
    Subscription.Status.PAST_DUE,
    Subscription.Status.UNPAID,
    Subscription.Status.PAUSED,
}


class SubscriptionChange(models.Model):
    """Every applied change, with the MRR it left, in Stripe time order."""

    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="changes"
    )
    stripe_event_id = models.CharField(max_length=255, unique=True)
    event_type = models.CharField(max_length=64)
    at = models.DateTimeField(db_index=True)
    status = models.CharField(max_length=20)
    mrr_pennies = models.BigIntegerField()
    cancel_at_period_end = models.BooleanField(default=False)

    class Meta:
        ordering = ["at", "stripe_event_id"]

    def __str__(self):
        return f"{self.subscription_id} {self.at:%Y-%m-%d} {self.status}"
