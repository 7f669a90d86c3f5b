"""Running the data-quality checks, and the people's answers to what they find."""

import hashlib
import json
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.roles import Role
from audit.models import AuditLog
from audit.services import audit_record
from core.mail import message_send, messages_resend
from core.models import Message
from core.timeutils import business_day
from monitoring.checks import (
    ATTENTION,
    INTEGRITY,
    MESSAGE_STUCK_AFTER,
    REGISTRY,
    Finding,
)
from monitoring.models import DataQualityIssue

Status = DataQualityIssue.Status
OPEN_STATES = (Status.OPEN, Status.ACKNOWLEDGED)


@dataclass
class RunResult:
    opened: int = 0
    updated: int = 0
    reopened: int = 0
    resolved: int = 0
    by_check: dict = field(default_factory=dict)

    @property
    def open_total(self) -> int:
        return DataQualityIssue.objects.filter(status__in=OPEN_STATES).count()


def open_counts(names: list[str] | None = None) -> dict[str, dict[str, int]]:
    """Open (and acknowledged) issues per check, grouped by kind:
    {"integrity": {check: n}, "attention": {check: n}}; checks with none are left
    out. `names` limits it to those checks."""
    counts: dict[str, dict[str, int]] = {INTEGRITY: {}, ATTENTION: {}}
    rows = DataQualityIssue.objects.filter(status__in=OPEN_STATES)
    if names is not None:
        rows = rows.filter(check_name__in=names)
    for name in rows.values_list("check_name", flat=True):
        check = REGISTRY.get(name)
        kind = check.kind if check else INTEGRITY  # a retired check: look at it
        counts[kind][name] = counts[kind].get(name, 0) + 1
    return counts


def checks_last_run_at():
    """When the checks last ran (by any runner, all or some), or None: never."""
    return (
        AuditLog.objects.filter(event_type="monitoring.checks_run")
        .values_list("created_at", flat=True)
        .first()
    )


def _hash(evidence: dict) -> str:
    return hashlib.sha256(
        json.dumps(evidence, sort_keys=True, default=str).encode()
    ).hexdigest()


@transaction.atomic
def _apply(check, findings: list[Finding], result: RunResult, now) -> None:
    existing = {
        issue.fingerprint: issue
        for issue in DataQualityIssue.objects.select_for_update().filter(
            check_name=check.name
        )
    }
    seen = set()
    for finding in findings:
        seen.add(finding.fingerprint)
        digest = _hash(finding.evidence)
        issue = existing.get(finding.fingerprint)
        if issue is None:
            issue = DataQualityIssue.objects.create(
                check_name=check.name,
                severity=check.severity,
                fingerprint=finding.fingerprint[:200],
                object_type=finding.object_type,
                object_id=finding.object_id,
                message=finding.message,
                evidence=finding.evidence,
                evidence_hash=digest,
                first_seen=now,
                last_seen=now,
            )
            result.opened += 1
            _alert_staff(issue, now, reopened=False)
            continue
        changed = digest != issue.evidence_hash
        if issue.status == Status.RESOLVED or (
            issue.status == Status.WAIVED and changed
        ):
            issue.status, issue.resolved_at, issue.resolved_by = Status.OPEN, None, None
            issue.note = (issue.note + "\n" if issue.note else "") + (
                f"{now:%Y-%m-%d %H:%M} reopened: the condition is back"
                + (" with new evidence" if changed else "")
            )
            result.reopened += 1
            _alert_staff(issue, now, reopened=True)
        elif issue.status in OPEN_STATES:
            result.updated += 1
        issue.message, issue.evidence, issue.evidence_hash = (
            finding.message,
            finding.evidence,
            digest,
        )
        issue.severity, issue.last_seen = check.severity, now
        issue.save()
    for fingerprint, issue in existing.items():
        if fingerprint in seen or issue.status == Status.RESOLVED:
            continue
        issue.status, issue.resolved_at, issue.resolved_by = Status.RESOLVED, now, None
        issue.note = (issue.note + "\n" if issue.note else "") + (
            f"{now:%Y-%m-%d %H:%M} resolved automatically: the condition cleared"
        )
        issue.save()
        result.resolved += 1
    result.by_check[check.name] = len(findings)


ALERT_SEVERITIES = ("critical", "high")


def admin_emails() -> list[str]:
    """Every active admin's address (the admin role or a superuser)."""
    return list(
        User.objects.filter(is_active=True)
        .filter(Q(is_superuser=True) | Q(groups__name=Role.ADMIN))
        .exclude(email="")
        .values_list("email", flat=True)
        .distinct()
        .order_by("email")
    )


def _alert_staff(issue: DataQualityIssue, now, *, reopened: bool) -> None:
    """A critical or high issue that opened (or reopened) in this run: one email
    to every active admin, sent after the check's transaction commits."""
    if issue.severity not in ALERT_SEVERITIES:
        return
    message_send(
        kind="staff_issue_alert",
        to=admin_emails(),
        context={
            "issue": issue,
            "reopened": reopened,
            "issue_url": settings.SITE_URL
            + reverse("monitoring:issue_detail", args=[issue.pk]),
        },
        target=("issue", issue.pk),
        dedupe_key=f"opened:{now.isoformat()}",
    )


def checks_run(
    *, only: list[str] | None = None, actor_label: str = "system", actor=None
):
    """Run the checks (all, or `only` these), idempotently: an open issue is
    updated, never duplicated; one whose condition cleared is resolved; a waived
    one stays waived until its evidence changes. Writes issues and an audit row."""
    names = only or list(REGISTRY)
    unknown = sorted(set(names) - set(REGISTRY))
    if unknown:
        raise KeyError(f"unknown check(s): {', '.join(unknown)}")
    now = timezone.now()
    result = RunResult()
    for name in names:
        check = REGISTRY[name]
        _apply(check, check.run(), result, now)
    audit_record(
        event_type="monitoring.checks_run",
        actor=actor,
        actor_label="" if actor else actor_label,
        metadata={
            "checks": names,
            "opened": result.opened,
            "reopened": result.reopened,
            "resolved": result.resolved,
            "findings": result.by_check,
        },
    )
    return result


@transaction.atomic
def issue_set_status(
    *, issue: DataQualityIssue, status: str, actor, note: str = ""
) -> DataQualityIssue:
    """A person acknowledges, resolves, waives or reopens (a waived one) an issue,
    with a note. Audited."""
    allowed = {Status.ACKNOWLEDGED, Status.RESOLVED, Status.WAIVED, Status.OPEN}
    if status not in allowed:
        raise ValueError(f"status must be one of {sorted(allowed)}")
    issue = DataQualityIssue.objects.select_for_update().get(pk=issue.pk)
    before = issue.status
    issue.status = status
    if status == Status.ACKNOWLEDGED:
        issue.owner = actor
    if status in (Status.RESOLVED, Status.WAIVED):
        issue.resolved_at, issue.resolved_by = timezone.now(), actor
    if status == Status.OPEN:  # reopened: the next check run judges it again
        issue.resolved_at, issue.resolved_by = None, None
    stamp = f"{timezone.now():%Y-%m-%d %H:%M} {actor.email}: {status}"
    issue.note = (
        (issue.note + "\n" if issue.note else "")
        + stamp
        + (f" — {note.strip()}" if note.strip() else "")
    )
    issue.save()
    audit_record(
        event_type="monitoring.issue_reopened"
        if status == Status.OPEN
        else f"monitoring.issue_{status}",
        actor=actor,
        target=issue,
        metadata={"check": issue.check_name, "from": before, "note": note.strip()},
    )
    return issue


def messages_resend_run(
    *, ids: list[int], failed: bool, queued: bool, actor_label: str
) -> list:
    """Send again the named messages, the failed ones and/or those stuck queued
    (core.mail.messages_resend); audited as `messages.resend`. Raises KeyError
    naming ids that do not exist. Returns the rows queued again."""
    missing = sorted(
        set(ids) - set(Message.objects.filter(pk__in=ids).values_list("pk", flat=True))
    )
    if missing:
        raise KeyError(f"no message with id {', '.join(map(str, missing))}")
    rows = messages_resend(
        ids=ids,
        failed=failed,
        queued_before=timezone.now() - MESSAGE_STUCK_AFTER if queued else None,
    )
    audit_record(
        event_type="messages.resend",
        actor_label=actor_label,
        metadata={
            "ids": ids,
            "failed": failed,
            "queued": queued,
            "resent": [m.pk for m in rows],
        },
    )
    return rows


def staff_digest_send(*, now=None) -> int:
    """The daily digest: one email to every active admin listing the critical and
    high issues still open or acknowledged, oldest first, with a link to each;
    nothing when none is. Once per admin per business day (the day is the dedupe
    key). Returns how many messages were recorded."""
    now = now or timezone.now()
    issues = list(
        DataQualityIssue.objects.filter(
            status__in=OPEN_STATES,
            severity__in=ALERT_SEVERITIES,
        ).order_by("first_seen", "pk")
    )
    if not issues:
        return 0
    day = business_day(now)
    rows = [
        {
            "issue": issue,
            "url": settings.SITE_URL
            + reverse("monitoring:issue_detail", args=[issue.pk]),
        }
        for issue in issues
    ]
    sent = message_send(
        kind="staff_digest",
        to=admin_emails(),
        context={
            "rows": rows,
            "day": day,
            "monitoring_url": settings.SITE_URL + reverse("monitoring:issues"),
        },
        target=("digest", day.isoformat()),
    )
    return len(sent)
