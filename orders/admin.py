from django.contrib import admin

from orders.models import Order, OrderLine, OrderStatusChange


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    can_delete = False
    readonly_fields = [f.name for f in OrderLine._meta.fields]

    def has_add_permission(self, request, obj=None):
        return False


class StatusChangeInline(admin.TabularInline):
    model = OrderStatusChange
    extra = 0
    can_delete = False
    readonly_fields = [f.name for f in OrderStatusChange._meta.fields]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    """Read-only: orders change through the ops console and the payment pipeline."""

    list_display = (
        "number",
        "email",
        "status",
        "refund_status",
        "total_pennies",
        "created_at",
    )
    list_filter = ("status", "refund_status")
    search_fields = ("number", "email", "stripe_payment_intent")
    date_hierarchy = "created_at"
    inlines = [OrderLineInline, StatusChangeInline]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Order._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
