from django.contrib import admin

from core.models import Message


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    """Read-only: what was sent is history; resend with `manage.py resend_messages`."""

    list_display = (
        "created_at",
        "kind",
        "recipient",
        "status",
        "attempts",
        "target_type",
        "target_id",
        "sent_at",
    )
    list_filter = ("status", "kind", ("created_at", admin.DateFieldListFilter))
    search_fields = ("recipient", "target_id", "provider_message_id")
    date_hierarchy = "created_at"
    # The bodies hold live links (password reset, invitations): not shown here.
    exclude = ("body_text", "body_html")

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields if f.name not in self.exclude]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
