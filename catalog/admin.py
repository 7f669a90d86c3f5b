from django.contrib import admin

from catalog.models import Category, Product, StockMovement, StockReservation, Variant


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}


class VariantInline(admin.TabularInline):
    model = Variant
    extra = 0
    fields = (
        "sku",
        "option_values",
        "price_override_pennies",
        "stock_on_hand",
        "active",
    )
    # Stock changes only through the movement ledger (ops stock page).
    readonly_fields = ("stock_on_hand",)


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "category",
        "price_pennies",
        "active",
        "is_preorder",
        "billing_interval",
    )
    list_filter = ("category", "active", "is_preorder", "billing_interval")
    search_fields = ("name", "variants__sku")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [VariantInline]
    list_select_related = ("category",)


@admin.register(StockMovement)
class StockMovementAdmin(admin.ModelAdmin):
    list_display = ("created_at", "variant", "delta", "reason", "reference", "actor")
    list_filter = ("reason",)
    search_fields = ("variant__sku", "reference")
    list_select_related = ("variant__product", "actor")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(StockReservation)
class StockReservationAdmin(admin.ModelAdmin):
    list_display = ("holder", "variant", "quantity", "status", "expires_at")
    list_filter = ("status",)
    search_fields = ("holder", "variant__sku")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
