from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from accounts.models import SavedAddress, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    """Users and their roles (the Groups field); role changes are audited."""

    ordering = ("email",)
    list_display = ("email", "full_name", "roles_display", "is_active", "date_joined")
    list_filter = ("groups", "is_active", "is_superuser")
    search_fields = ("email", "full_name")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("full_name",)}),
        ("Roles", {"fields": ("groups", "is_active", "is_staff", "is_superuser")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "full_name", "password1", "password2"),
            },
        ),
    )
    filter_horizontal = ("groups",)
    readonly_fields = ("last_login", "date_joined")

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description="Roles")
    def roles_display(self, obj):
        return ", ".join(sorted(g.name for g in obj.groups.all())) or "—"


@admin.register(SavedAddress)
class SavedAddressAdmin(admin.ModelAdmin):
    """Addresses customers saved at checkout (they choose them again there)."""

    list_display = ("user", "name", "line1", "city", "postcode", "last_used_at")
    search_fields = ("user__email", "name", "postcode")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    readonly_fields = ("created_at", "updated_at", "last_used_at")
