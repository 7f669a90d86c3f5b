from django.contrib import admin

from audit.models import AuditLog


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    """Read-only: the audit trail is append-only, even for admins."""

    list_display = (
        "created_at",
        "actor_label",
        "actor_role",
        "event_type",
        "target_type",
        "target_id",
        "ip_address",
    )
    list_filter = (
        ("actor", admin.RelatedOnlyFieldListFilter),
        "event_type",
        "actor_role",
        ("created_at", admin.DateFieldListFilter),
    )
    search_fields = ("actor_label", "target_id", "request_id")
    date_hierarchy = "created_at"
    list_select_related = ("actor",)

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
