from django.conf import settings
from django.db import models


class AuditLogQuerySet(models.QuerySet):
    """Append-only: bulk updates and deletes are refused."""

    def update(self, **kwargs):
        raise PermissionError("AuditLog is append-only: rows are never updated")

    def delete(self):
        raise PermissionError("AuditLog is append-only: rows are never deleted")

    def erasure_update(self, **kwargs) -> int:
        """The one rewrite of audit rows: a person's erasure replacing their name
        and email (`audit.services.audit_erase_person`, which the PostgreSQL
        trigger lets through for its transaction only). Nothing else calls it."""
        return super().update(**kwargs)


class AuditLog(models.Model):
    """One operational act: who, in what role, did what, to what, when, from where."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="audit_events",
    )
    actor_label = models.CharField(
        max_length=254,
        blank=True,
        help_text="Who acted, kept even if the user is later removed "
        "(an email, 'system', or a command-line user).",
    )
    actor_role = models.CharField(max_length=32, blank=True)
    event_type = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=64, blank=True, db_index=True)
    target_id = models.CharField(max_length=64, blank=True, db_index=True)
    metadata = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = AuditLogQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["target_type", "target_id"])]

    def __str__(self):
        target = f" {self.target_type}:{self.target_id}" if self.target_type else ""
        when = f"{self.created_at:%Y-%m-%d %H:%M:%S}"
        return f"{when} {self.actor_label} {self.event_type}{target}"

    def save(self, *args, **kwargs):
        # The one guard in a save(): an audit row, once written, is never rewritten.
        if not self._state.adding:
            raise PermissionError("AuditLog is append-only: rows are never updated")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("AuditLog is append-only: rows are never deleted")
