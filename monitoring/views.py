import json

from django.contrib import messages
from django.core.exceptions import BadRequest
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Case, CharField, Value, When
from django.http import Http404, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.roles import Role
from analyticsapp.exports import Export, Filters, csv_chunks
from audit.jobs import job_run
from audit.models import AuditLog
from audit.services import audit_record
from core.forms import bad_input, valid_fields
from monitoring.checks import ATTENTION, INTEGRITY, KINDS, REGISTRY, checks_of_kind
from monitoring.checks import Severity as SEVERITY_ORDER
from monitoring.forms import AuditFilterForm, IssueFilterForm
from monitoring.models import DataQualityIssue
from monitoring.services import (
    checks_last_run_at,
    checks_run,
    issue_set_status,
    open_counts,
)
from monitoring.tasks import JOB as CHECKS_JOB
from payments.models import HistoryCheckpoint

# The audit CSV: these fields, in order; its header calls actor_label "actor".
AUDIT_FIELDS = (
    "created_at",
    "actor_label",
    "actor_role",
    "event_type",
    "target_type",
    "target_id",
    "ip_address",
    "request_id",
    "metadata",
)
AUDIT_COLUMNS = ["actor" if f == "actor_label" else f for f in AUDIT_FIELDS]


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone()[0] == 1
    except Exception:  # any failure of the probe is the answer, not an error
        return False


@require_GET
def healthz(request):
    """Liveness and readiness: 200 when the database answers `SELECT 1`, else 503."""
    database = "ok" if _database_ok() else "unavailable"
    healthy = database == "ok"
    body = {"status": "ok" if healthy else "error", "database": database}
    if not healthy:
        body["failing"] = ["database"]
    response = JsonResponse(body, status=200 if healthy else 503)
    response["Cache-Control"] = "no-store"
    return response


def issues(request):
    """Integrity issues first (they fail the gate), then attention items."""
    form = IssueFilterForm(request.GET or None)
    rows = DataQualityIssue.objects.select_related("owner").annotate(
        kind=Case(
            When(check_name__in=checks_of_kind(ATTENTION), then=Value(ATTENTION)),
            default=Value(INTEGRITY),
            output_field=CharField(),
        )
    )
    data = valid_fields(form)
    if data.get("kind"):
        rows = rows.filter(kind=data["kind"])
    status = data.get("status") or "open"
    if status == "open":
        rows = rows.filter(status__in=["open", "acknowledged"])
    elif status != "all":
        rows = rows.filter(status=status)
    if data.get("check"):
        rows = rows.filter(check_name=data["check"])
    if data.get("severity"):
        rows = rows.filter(severity=data["severity"])
    worst_first = Case(
        *[When(severity=s, then=rank) for rank, s in enumerate(SEVERITY_ORDER)],
        default=len(SEVERITY_ORDER),
    )
    page = Paginator(
        rows.order_by("-kind", worst_first, "-last_seen", "-id"), 50
    ).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    counts = open_counts()
    return render(
        request,
        "monitoring/issues.html",
        {
            "form": form,
            "page": page,
            "kinds": [
                {
                    "kind": kind,
                    "title": title,
                    "open": sum(counts[kind].values()),
                    "checks": [c for c in REGISTRY.values() if c.kind == kind],
                }
                for kind, title in KINDS.items()
            ],
            "query": query.urlencode(),
            "last_checked": None if page.object_list else checks_last_run_at(),
            "backfills": _backfills() if request.user.has_role(Role.ADMIN) else None,
            "can_run_checks": request.user.has_role(Role.ADMIN),
            "last_run": checks_last_run_at(),
        },
    )


def _backfills() -> list[dict]:
    """Each history backfill and catch-up with where each of its lists stands."""
    found: dict[str, dict] = {}
    for row in HistoryCheckpoint.objects.order_by("source", "id"):
        entry = found.setdefault(row.source, {"source": row.source, "lists": []})
        entry["lists"].append(row)
    for entry in found.values():
        entry["finished"] = all(r.finished_at for r in entry["lists"])
        entry["objects"] = sum(r.count for r in entry["lists"])
        entry["updated"] = max(r.updated_at for r in entry["lists"])
    return list(found.values())


def issue_detail(request, pk):
    issue = get_object_or_404(DataQualityIssue, pk=pk)
    return render(
        request,
        "monitoring/issue_detail.html",
        {
            "issue": issue,
            "check": REGISTRY.get(issue.check_name),
            "can_decide": request.user.has_role(Role.ADMIN),
        },
    )


@require_POST
def checks_run_now(request):
    """An admin runs every check now (under the hourly job's lock, audited with
    them as actor) instead of waiting for the hour."""
    actor = request.user

    def work():
        result = checks_run(actor=actor, actor_label=actor.email)
        counts = {"opened": result.opened, "resolved": result.resolved}
        return counts, counts

    counts = job_run(CHECKS_JOB, work)
    if counts is None:
        messages.info(request, "The checks are running already: look again shortly.")
    else:
        messages.success(
            request,
            f"Checks run: {counts['opened']} issue(s) opened, "
            f"{counts['resolved']} resolved.",
        )
    return redirect("monitoring:issues")


@require_POST
def issue_status(request, pk, status):
    issue = get_object_or_404(DataQualityIssue, pk=pk)
    if status not in ("acknowledged", "resolved", "waived", "open"):
        raise Http404("No such action")
    if status != "acknowledged" and not request.user.has_role(Role.ADMIN):
        messages.error(request, "Only an admin may resolve, waive or reopen an issue.")
        return redirect("monitoring:issue_detail", pk=issue.pk)
    if status == "open" and issue.status != "waived":
        messages.error(request, "Only a waived issue is reopened by hand.")
        return redirect("monitoring:issue_detail", pk=issue.pk)
    note = request.POST.get("note", "")
    if status == "waived" and not note.strip():
        messages.error(request, "Say why the issue is waived.")
        return redirect("monitoring:issue_detail", pk=issue.pk)
    issue_set_status(issue=issue, status=status, actor=request.user, note=note)
    messages.success(
        request, "Issue reopened." if status == "open" else f"Issue {status}."
    )
    return redirect("monitoring:issue_detail", pk=issue.pk)


def _audit_rows(request):
    form = AuditFilterForm(request.GET or None)
    rows = AuditLog.objects.select_related("actor").order_by("-created_at", "-id")
    if valid_fields(form):
        rows = form.apply(rows)
    return form, rows


def audit_list(request):
    form, rows = _audit_rows(request)
    page = Paginator(rows, 100).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "monitoring/audit.html",
        {"form": form, "page": page, "query": query.urlencode()},
        status=400 if bad_input(form) else 200,
    )


def audit_export(request):
    """The filtered audit trail as CSV, streamed through the analytics export
    machinery (neutralised cells, row count, SHA-256), `metadata` as JSON; the
    download is audited with the client's address."""
    form, rows = _audit_rows(request)
    if bad_input(form):
        raise BadRequest(" ".join(m for ms in form.errors.values() for m in ms))
    export = Export(
        "audit",
        "Audit trail",
        AUDIT_COLUMNS,
        lambda _filters: (
            (*row[:-1], json.dumps(row[-1], sort_keys=True, ensure_ascii=False))
            for row in rows.values_list(*AUDIT_FIELDS).iterator(chunk_size=2000)
        ),
    )
    tally: dict = {}
    user, filters = request.user, request.GET.dict()

    def stream():
        try:
            yield from csv_chunks(export, Filters(), tally)
        finally:
            audit_record(
                event_type="monitoring.audit_exported",
                actor=user,
                request=request,
                target_type="export",
                target_id="audit",
                metadata={
                    "filters": filters,
                    "rows": tally.get("rows", 0),
                    "sha256": tally.get("sha256"),
                },
            )

    response = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="purelaka-audit.csv"'
    return response
