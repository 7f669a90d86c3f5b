from audit.models import AuditLog


def audit_for_target(*, target, limit: int = 200):
    """The audit rows about one object, oldest first."""
    return (
        AuditLog.objects.filter(
            target_type=target._meta.label_lower, target_id=str(target.pk)
        )
        .select_related("actor")
        .order_by("created_at", "id")[:limit]
    )
