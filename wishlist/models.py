from django.conf import settings
from django.db import models
from django.db.models import Q

from catalog.models import Product


class WishlistItem(models.Model):
    """One add to a wishlist. Kept after removal (the funnel counts every add)."""

    class Removal(models.TextChoices):
        REMOVED = "removed", "Removed"
        MOVED_TO_CART = "moved_to_cart", "Moved to cart"

    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="wishlist"
    )
    product = models.ForeignKey(
        Product, on_delete=models.CASCADE, related_name="wishlist_items"
    )
    added_at = models.DateTimeField(auto_now_add=True, db_index=True)
    removed_at = models.DateTimeField(null=True, blank=True)
    removal = models.CharField(max_length=16, choices=Removal.choices, blank=True)

    class Meta:
        ordering = ["-added_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "product"],
                condition=Q(removed_at__isnull=True),
                name="wishlist_one_open_item_per_product",
            )
        ]

    def __str__(self):
        return f"{self.customer} ♥ {self.product}"
