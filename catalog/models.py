from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from core.models import TimeStampedModel
from core.money import store_currency


class Category(models.Model):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "categories"

    def __str__(self):
        return self.name


class Product(TimeStampedModel):
    class BillingInterval(models.TextChoices):
        ONE_OFF = "", "One-off purchase"
        MONTH = "month", "Every month"
        YEAR = "year", "Every year"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    category = models.ForeignKey(
        Category, on_delete=models.PROTECT, related_name="products"
    )
    price_pennies = models.BigIntegerField(help_text="Price in minor units.")
    currency = models.CharField(max_length=3, default=store_currency)
    active = models.BooleanField(default=True, db_index=True)
    is_preorder = models.BooleanField(
        default=False, help_text="Sold before stock exists: no stock is decremented."
    )
    low_stock_threshold = models.PositiveIntegerField(default=5)
    billing_interval = models.CharField(
        max_length=5,
        choices=BillingInterval.choices,
        default=BillingInterval.ONE_OFF,
        blank=True,
        help_text="Set for a subscription product: billed every interval, no stock.",
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(price_pennies__gte=0), name="product_price_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(billing_interval__in=["", "month", "year"]),
                name="product_billing_interval_valid",
            ),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("catalog:product_detail", args=[self.slug])

    @property
    def is_subscription(self) -> bool:
        """Sold as a Stripe subscription (Checkout mode=subscription), never carted."""
        return bool(self.billing_interval)


class Variant(TimeStampedModel):
    product = models.ForeignKey(
        Product, on_delete=models.PROTECT, related_name="variants"
    )
    sku = models.CharField(max_length=64, unique=True)
    option_values = models.JSONField(
        default=dict, blank=True, help_text='e.g. {"size": "M", "colour": "Sage"}'
    )
    price_override_pennies = models.BigIntegerField(null=True, blank=True)
    stock_on_hand = models.IntegerField(default=0)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["product_id", "id"]
        constraints = [
            # The database, not only Python, refuses negative stock.
            models.CheckConstraint(
                condition=Q(stock_on_hand__gte=0), name="variant_stock_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(price_override_pennies__isnull=True)
                | Q(price_override_pennies__gte=0),
                name="variant_price_not_negative",
            ),
        ]

    def __str__(self):
        return (
            f"{self.product.name} — {self.label}" if self.label else self.product.name
        )

    @property
    def label(self) -> str:
        return " / ".join(str(v) for v in self.option_values.values())

    @property
    def price_pennies(self) -> int:
        if self.price_override_pennies is not None:
            return self.price_override_pennies
        return self.product.price_pennies


class StockMovement(models.Model):
    """One change of a variant's stock on hand; on hand = the sum of its movements."""

    class Reason(models.TextChoices):
        RECEIVED = "received", "Stock received"
        SALE = "sale", "Sale"
        CANCEL_RELEASE = "cancel_release", "Returned by cancellation"
        REFUND_RESTOCK = "refund_restock", "Restocked by refund"
        ADJUSTMENT = "adjustment", "Manual adjustment"
        IMPORT = "import", "Import"
        RESTOCK_REVERSED = "restock_reversed", "Restock reversed (refund failed)"

    variant = models.ForeignKey(
        Variant, on_delete=models.PROTECT, related_name="movements"
    )
    delta = models.IntegerField()
    reason = models.CharField(max_length=20, choices=Reason.choices)
    note = models.CharField(max_length=255, blank=True)
    reference = models.CharField(
        max_length=64, blank=True, db_index=True, help_text='e.g. "order:42"'
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(delta=0), name="stock_movement_delta_not_zero"
            ),
            models.CheckConstraint(
                condition=Q(
                    reason__in=[
                        "received",
                        "sale",
                        "cancel_release",
                        "refund_restock",
                        "adjustment",
                        "import",
                        "restock_reversed",
                    ]
                ),
                name="stock_movement_reason_valid",
            ),
        ]

    def __str__(self):
        return f"{self.variant.sku} {self.delta:+d} ({self.reason})"


class StockReservationQuerySet(models.QuerySet):
    def holding(self, *, now=None):
        """Reservations that hold stock: active and not yet expired at `now`."""
        return self.filter(
            status=StockReservation.Status.ACTIVE, expires_at__gt=now or timezone.now()
        )

    def lapsed(self, *, now=None):
        """Active reservations past their expiry: holding nothing, left to the sweep."""
        return self.filter(
            status=StockReservation.Status.ACTIVE, expires_at__lte=now or timezone.now()
        )


class StockReservation(models.Model):
    """Units held for a holder (an order) until they are sold, released or expire."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        CONSUMED = "consumed", "Consumed by payment"
        RELEASED = "released", "Released"
        EXPIRED = "expired", "Expired"

    variant = models.ForeignKey(
        Variant, on_delete=models.PROTECT, related_name="reservations"
    )
    holder = models.CharField(max_length=64, db_index=True, help_text='"order:42"')
    quantity = models.PositiveIntegerField()
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.ACTIVE
    )
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    objects = StockReservationQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(
                fields=["variant", "expires_at"],
                condition=Q(status="active"),
                name="reservation_active_idx",
            )
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="reservation_quantity_positive"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["active", "consumed", "released", "expired"]),
                name="reservation_status_valid",
            ),
        ]

    def __str__(self):
        return f"{self.holder}: {self.quantity} × {self.variant_id} ({self.status})"
