"""Writes to the audit trail. `audit_record` is the one way in."""

from collections.abc import Callable

from django.db import connection, models
from django.db.models import Q, TextField
from django.db.models.functions import Cast

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


ERASURE_SETTING = "purelaka.audit_erasure"  # the trigger's switch (audit/0003)


def audit_erase_person(*, user, scrub: Callable[[object], object], email: str) -> int:
    """Rewrite the audit rows that name a person being erased: their email as
    the actor's label becomes the anonymised one, and `scrub` (the erasure's own
    rule for JSON values) takes them out of the metadata. Who acted, what and
    when are kept. Must run inside the erasure's transaction: on PostgreSQL it
    switches the append-only trigger off for that transaction alone. Returns the
    rows rewritten (the erasure's own audit row says how many)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config(%s, 'on', true)", [ERASURE_SETTING])
    as_text = Cast("metadata", TextField())
    rows = AuditLog.objects.annotate(text=as_text).filter(
        Q(actor=user)
        | Q(target_type="accounts.user", target_id=str(user.pk))
        | Q(actor_label__iexact=email)
        | Q(text__icontains=email)
    )
    rewritten = 0
    for pk, label, metadata in rows.values_list("pk", "actor_label", "metadata"):
        new_label = scrub(label) if isinstance(label, str) else label
        new_metadata = scrub(metadata)
        if (new_label, new_metadata) != (label, metadata):
            AuditLog.objects.filter(pk=pk).erasure_update(
                actor_label=new_label, metadata=new_metadata
            )
            rewritten += 1
    return rewritten
