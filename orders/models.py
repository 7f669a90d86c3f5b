from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse

from catalog.models import Variant
from core.models import TimeStampedModel
from core.money import store_currency


class Cart(TimeStampedModel):
    """A signed-in customer's cart, kept across devices and sessions."""

    customer = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="cart"
    )

    def __str__(self):
        return f"Cart of {self.customer}"


class CartItem(models.Model):
    cart = models.ForeignKey(Cart, on_delete=models.CASCADE, related_name="items")
    variant = models.ForeignKey(Variant, on_delete=models.CASCADE)
    quantity = models.PositiveIntegerField()
    seen_price_pennies = models.BigIntegerField(
        help_text="Unit price shown when added; checkout reports any change."
    )
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["added_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["cart", "variant"], name="cart_item_one_row_per_variant"
            ),
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="cart_item_quantity_positive"
            ),
        ]

    def __str__(self):
        return f"{self.quantity} × {self.variant_id}"


class Order(TimeStampedModel):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending payment"
        PAID = "paid", "Paid"
        FULFILLED = "fulfilled", "Fulfilled"
        CANCELED = "canceled", "Canceled"

    class RefundStatus(models.TextChoices):
        NONE = "none", "Not refunded"
        PARTIAL = "partial", "Partly refunded"
        FULL = "full", "Fully refunded"

    number = models.CharField(max_length=20, unique=True, editable=False)
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders"
    )
    email = models.EmailField()
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    refund_status = models.CharField(
        max_length=8, choices=RefundStatus.choices, default=RefundStatus.NONE
    )
    currency = models.CharField(max_length=3, default=store_currency)
    subtotal_pennies = models.BigIntegerField()
    shipping_pennies = models.BigIntegerField(default=0)
    total_pennies = models.BigIntegerField()
    refunded_pennies = models.BigIntegerField(default=0)
    checkout_token = models.CharField(
        max_length=64,
        unique=True,
        help_text="One per checkout form: a double submit finds the same order.",
    )
    shipping_name = models.CharField(max_length=150)
    shipping_line1 = models.CharField(max_length=200)
    shipping_line2 = models.CharField(max_length=200, blank=True)
    shipping_city = models.CharField(max_length=100)
    shipping_postcode = models.CharField(max_length=20)
    shipping_country = models.CharField(max_length=2, default="GB")
    carrier = models.CharField(
        max_length=32, blank=True, help_text="A key of settings.CARRIERS, or blank."
    )
    tracking_reference = models.CharField(max_length=100, blank=True)
    stripe_checkout_session_id = models.CharField(max_length=255, blank=True)
    stripe_payment_intent = models.CharField(max_length=255, blank=True, db_index=True)
    stripe_charge_id = models.CharField(max_length=255, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    fulfilled_at = models.DateTimeField(null=True, blank=True)
    canceled_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)
    payment_processing_since = models.DateTimeField(
        null=True,
        blank=True,
        help_text="A delayed payment (a bank debit) is processing since this time.",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "created_at"]),
            # The late flag, its filter and count (orders/service_level.py).
            models.Index(fields=["status", "paid_at"]),
            models.Index(fields=["customer", "created_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "paid", "fulfilled", "canceled"]),
                name="order_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(refund_status__in=["none", "partial", "full"]),
                name="order_refund_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(subtotal_pennies__gte=0)
                & Q(shipping_pennies__gte=0)
                & Q(total_pennies__gte=0)
                & Q(refunded_pennies__gte=0),
                name="order_amounts_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(refunded_pennies__lte=models.F("total_pennies")),
                name="order_refund_not_above_total",
            ),
        ]

    def __str__(self):
        return self.number

    def get_absolute_url(self):
        return reverse("orders:order_detail", args=[self.number])

    @property
    def holder(self) -> str:
        """The key of this order's stock reservations."""
        return f"order:{self.pk}"

    @property
    def refundable_pennies(self) -> int:
        return self.total_pennies - self.refunded_pennies


class OrderLine(models.Model):
    """What was bought, copied at purchase: later catalogue edits change nothing."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    variant = models.ForeignKey(
        Variant, on_delete=models.PROTECT, related_name="order_lines"
    )
    product_name = models.CharField(max_length=200)
    variant_label = models.CharField(max_length=200, blank=True)
    sku = models.CharField(max_length=64)
    unit_price_pennies = models.BigIntegerField()
    quantity = models.PositiveIntegerField()
    line_total_pennies = models.BigIntegerField()
    is_preorder = models.BooleanField(default=False)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="order_line_quantity_positive"
            ),
            models.CheckConstraint(
                condition=Q(unit_price_pennies__gte=0),
                name="order_line_price_not_negative",
            ),
        ]

    def __str__(self):
        return f"{self.quantity} × {self.sku}"


class OrderStatusChange(models.Model):
    order = models.ForeignKey(
        Order, on_delete=models.CASCADE, related_name="status_changes"
    )
    from_status = models.CharField(max_length=12, blank=True)
    to_status = models.CharField(max_length=12)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT
    )
    by = models.CharField(max_length=16, help_text="customer, ops, payments or system")
    note = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"{self.order_id}: {self.from_status or '∅'} → {self.to_status}"


class OrderNote(models.Model):
    """An internal note by staff on an order: never shown to the customer, audited."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    body = models.TextField(max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"{self.order_id}: {self.body[:40]}"
