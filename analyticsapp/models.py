"""Snapshot tables: one row per business day (REPORTING_TIMEZONE), rebuilt by range.

Dashboards and KPI windows read only these, so their cost does not grow with history.
Money in pennies of STORE_CURRENCY.
"""

from django.conf import settings
from django.db import models

from catalog.models import Product, Variant


class DailySnapshot(models.Model):
    day = models.DateField(unique=True)
    order_revenue_pennies = models.BigIntegerField(default=0)
    subscription_revenue_pennies = models.BigIntegerField(default=0)
    other_revenue_pennies = models.BigIntegerField(default=0)
    gross_revenue_pennies = models.BigIntegerField(default=0)
    refunds_pennies = models.BigIntegerField(default=0)
    dispute_losses_pennies = models.BigIntegerField(default=0)
    net_revenue_pennies = models.BigIntegerField(default=0)
    # Money to the bank (definitions 1.2): by the balance transaction's day.
    stripe_fees_pennies = models.BigIntegerField(default=0)
    dispute_fees_pennies = models.BigIntegerField(default=0)
    net_revenue_after_fees_pennies = models.BigIntegerField(default=0)
    paid_orders = models.IntegerField(default=0)
    paid_order_revenue_pennies = models.BigIntegerField(
        default=0,
        help_text="The revenue of the day's paid orders (applied payments): AOV's "
        "numerator, the sum of the day's customer rows.",
    )
    units_sold = models.IntegerField(default=0)
    customers = models.IntegerField(default=0)
    new_customers = models.IntegerField(default=0)
    returning_customers = models.IntegerField(default=0)
    built_at = models.DateTimeField()

    class Meta:
        ordering = ["day"]

    def __str__(self):
        return f"{self.day}: net {self.net_revenue_pennies}"


class CustomerDailySnapshot(models.Model):
    """A customer's paid orders on a day, with their lifetime count as of that day."""

    # Days are found through the unique (day, customer) index; no index of their
    # own: each costs every nightly insert and no query needs it.
    day = models.DateField()
    customer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    paid_orders = models.IntegerField()
    revenue_pennies = models.BigIntegerField()
    lifetime_paid_orders = models.IntegerField()
    first_paid_day = models.DateField()

    class Meta:
        ordering = ["day", "customer_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["day", "customer"], name="customer_snapshot_one_per_day"
            )
        ]

    def __str__(self):
        return f"{self.day} customer {self.customer_id}: {self.paid_orders}"


class ProductDailySnapshot(models.Model):
    day = models.DateField()  # indexed by the unique (day, variant)
    product = models.ForeignKey(Product, on_delete=models.CASCADE)
    variant = models.ForeignKey(Variant, on_delete=models.CASCADE)
    units = models.IntegerField()
    revenue_pennies = models.BigIntegerField()

    class Meta:
        ordering = ["day", "variant_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["day", "variant"], name="product_snapshot_one_per_day"
            )
        ]

    def __str__(self):
        return f"{self.day} variant {self.variant_id}: {self.units}"


class WishlistDailySnapshot(models.Model):
    """Wishlist adds on a day per product, and how many converted within 30 days."""

    day = models.DateField()  # indexed by the unique (day, product)
    product = models.ForeignKey(Product, on_delete=models.CASCADE)
    adds = models.IntegerField()
    converted = models.IntegerField()

    class Meta:
        ordering = ["day", "product_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["day", "product"], name="wishlist_snapshot_one_per_day"
            )
        ]

    def __str__(self):
        return f"{self.day} product {self.product_id}: {self.converted}/{self.adds}"


class SnapshotRun(models.Model):
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    date_from = models.DateField()
    date_to = models.DateField()
    days_built = models.IntegerField(default=0)
    restated_days = models.IntegerField(default=0)
    triggered_by = models.CharField(max_length=254)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self):
        return f"{self.date_from}..{self.date_to} by {self.triggered_by}"


class Restatement(models.Model):
    """A number that changed when a day was rebuilt: numbers never change silently."""

    run = models.ForeignKey(
        SnapshotRun, on_delete=models.CASCADE, related_name="restatements"
    )
    day = models.DateField(db_index=True)
    metric = models.CharField(max_length=64)
    old_value = models.BigIntegerField()
    new_value = models.BigIntegerField()
    restated_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-restated_at", "day", "metric"]

    def __str__(self):
        return f"{self.day} {self.metric}: {self.old_value} → {self.new_value}"


class MrrDailySnapshot(models.Model):
    """MRR at the end of a business day and the day's movements (ChartMogul's
    definitions, per customer). Movements are amounts, all positive; net_new is
    new + expansion + reactivation - contraction - churn. Only subscriptions in
    STORE_CURRENCY count; those in other currencies are only counted."""

    day = models.DateField(unique=True)
    mrr_pennies = models.BigIntegerField(default=0)
    active_subscriptions = models.IntegerField(default=0)
    paying_customers = models.IntegerField(default=0)
    new_pennies = models.BigIntegerField(default=0)
    expansion_pennies = models.BigIntegerField(default=0)
    contraction_pennies = models.BigIntegerField(default=0)
    churn_pennies = models.BigIntegerField(default=0)
    reactivation_pennies = models.BigIntegerField(default=0)
    net_new_pennies = models.BigIntegerField(default=0)
    churned_customers = models.IntegerField(default=0)
    new_customers = models.IntegerField(default=0)
    other_currency_subscriptions = models.IntegerField(
        default=0,
        help_text="Active or past-due subscriptions in another currency than "
        "STORE_CURRENCY at the day's end: in no MRR figure.",
    )

    class Meta:
        ordering = ["day"]

    def __str__(self):
        return f"{self.day}: MRR {self.mrr_pennies}"


class ApiToken(models.Model):
    """A user's credential for the read-only JSON API (analyticsapp/api.py).

    Only the SHA-256 of the token is kept: the token itself is shown once, when it
    is made. `prefix` (its first characters) tells a user's tokens apart. A revoked
    token stops working at the next request (validity is never cached)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12)
    token_sha256 = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def active(self) -> bool:
        return self.revoked_at is None
