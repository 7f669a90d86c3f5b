"""Writes to the audit trail. `audit_record` is the one way in."""

from django.db import models

from audit.models import AuditLog
from core.request_context import client_ip, current_request, current_request_id

SYSTEM = "system"


def _role_of(user):
    if user is None or not getattr(user, "is_authenticated", False):
        return ""
    primary = getattr(user, "primary_role", None)
    return primary or ""


def audit_record(
    *,
    event_type: str,
    actor=None,
    actor_label: str = "",
    target: models.Model | None = None,
    target_type: str = "",
    target_id: str | int = "",
    metadata: dict | None = None,
    request=None,
) -> AuditLog:
    """Append one audit row and return it.

    The request defaults to the one being served, and the actor to its user;
    `actor_label` names an actor that is not a user ("system", "cli:root"). Call it
    inside the transaction of the act it records, so both commit or roll back together.
    """
    if request is None:
        request = current_request()
    if actor is None and request is not None:
        user = getattr(request, "user", None)
        actor = user if user is not None and user.is_authenticated else None
    if target is not None:
        target_type = target_type or target._meta.label_lower
        target_id = target_id or target.pk
    label = actor_label or (actor.get_username() if actor is not None else SYSTEM)
    return AuditLog.objects.create(
        actor=actor,
        actor_label=label[:254],
        actor_role=_role_of(actor),
        event_type=event_type,
        target_type=target_type,
        target_id=str(target_id) if target_id != "" else "",
        metadata=metadata or {},
        ip_address=client_ip(request),
        request_id=getattr(request, "request_id", "") or _request_id_or_blank(),
    )


def _request_id_or_blank():
    rid = current_request_id()
    return "" if rid == "-" else rid
