"""The read-only JSON API for scripts and BI tools (django-ninja), at /api/.

Every endpoint is a GET behind `Authorization: Bearer <token>` (api_tokens.py):
no or unknown token 401, a user who is not (or no longer) an active analyst or
admin 403, over the per-token rate 429, a parameter that cannot be read 400;
each answer's body is `{"detail": message}`. The schema is at /api/schema/.

Money is integer pennies, rates are decimal strings, times UTC (ISO 8601).
Export rows are the CSV's rows, cell for cell in the same order, as JSON values
(text is not prefixed against spreadsheet formulas: JSON is not a spreadsheet).
"""

import base64
import binascii
import datetime as dt
import hashlib
import itertools
import json
from decimal import Decimal

from django import forms
from django.core.exceptions import BadRequest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections
from django.db.models import F, Q
from ninja import NinjaAPI, Query
from ninja.errors import (
    AuthenticationError,
    AuthorizationError,
    HttpError,
    ValidationError,
)
from ninja.security import HttpBearer

from analyticsapp import kpis
from analyticsapp.api_tokens import (
    api_rate_allowed,
    api_token_authenticate,
    may_use_api,
    requests_per_minute,
)
from analyticsapp.exports import (
    DAILY_COLUMNS,
    EXPORTS,
    Export,
    Filters,
    QueryRows,
    audit_export,
)
from analyticsapp.forms import ExportForm
from core.forms import DayField
from core.replica import analytics_read_view

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
DEFAULT_RANGE_DAYS = 30
SERIES_COLUMNS = [*DAILY_COLUMNS, "paid_order_revenue_pennies"]
BAD_CURSOR = "The cursor cannot be read: pass a next_cursor as it was given."


class RateLimited(HttpError):
    def __init__(self):
        super().__init__(
            429,
            f"Too many requests for this token: at most {requests_per_minute()} a "
            "minute. Wait for the next minute, then try again.",
        )


class BearerToken(HttpBearer):
    """The token's user, or None (401). Raises 403 for a user the API is not for,
    429 over the rate. Looked up on every request: nothing about validity is cached."""

    def authenticate(self, request, token):
        api_token = api_token_authenticate(token.strip())
        if api_token is None:
            return None
        user = api_token.user
        if not may_use_api(user):
            raise AuthorizationError(
                message="This token's user is not an active analyst or admin."
            )
        if not api_rate_allowed(api_token):
            raise RateLimited()
        request.user = user  # the audit rows name who read
        request.api_token = api_token
        return api_token


api = NinjaAPI(
    title="PureLaka analytics API",
    version="1",
    description=__doc__,
    auth=BearerToken(),
    urls_namespace="api",
    openapi_url="/schema/",
    # The docs page needs `ninja` in INSTALLED_APPS to serve Swagger UI from our own
    # origin; without it django-ninja loads it from a CDN, which the CSP forbids.
    docs_url=None,
)


@api.exception_handler(ValidationError)
def _unreadable(request, exc):
    messages = [
        f"{'.'.join(str(p) for p in e.get('loc', [])[1:])}: {e.get('msg')}"
        for e in exc.errors
    ]
    return api.create_response(request, {"detail": "; ".join(messages)}, status=400)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc):
    response = api.create_response(
        request,
        {"detail": "Send a live API token: Authorization: Bearer <token>."},
        status=401,
    )
    response["WWW-Authenticate"] = "Bearer"
    return response


@api.exception_handler(BadRequest)
def _bad_request(request, exc):
    return api.create_response(request, {"detail": str(exc)}, status=400)


@api.exception_handler(RateLimited)
def _rate_limited(request, exc):
    response = api.create_response(request, {"detail": str(exc)}, status=429)
    # The count is kept per fixed minute (api_tokens.py): the next one starts afresh.
    response["Retry-After"] = str(60 - dt.datetime.now(dt.UTC).second)
    return response


def _form_errors(form: forms.Form) -> str:
    return " ".join(m for ms in form.errors.values() for m in ms)


class RangeForm(forms.Form):
    """A range of complete business days, at most MAX_RANGE_DAYS long; without
    `from`/`to`, the DEFAULT_RANGE_DAYS days to yesterday."""

    compare = forms.ChoiceField(choices=list(kpis.COMPARISONS.items()), required=False)

    def __init__(self, data, *args, **kwargs):
        super().__init__(data, *args, **kwargs)
        self.fields["from"] = DayField(label="from")
        self.fields["to"] = DayField(label="to")

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        last = kpis.default_as_of()
        end = data.get("to") or last
        start = data.get("from") or end - dt.timedelta(days=DEFAULT_RANGE_DAYS - 1)
        if end > last:
            raise forms.ValidationError(
                f"Pick a 'to' day that is over: {last.isoformat()} or earlier."
            )
        if start > end:
            raise forms.ValidationError("The range ends before it starts.")
        if (end - start).days + 1 > kpis.MAX_RANGE_DAYS:
            raise forms.ValidationError(
                f"A range covers at most {kpis.MAX_RANGE_DAYS} days: ask for it in "
                "parts."
            )
        data["window"] = kpis.Window(start, end)
        return data


def _range(date_from, date_to, compare=None) -> dict:
    form = RangeForm({"from": date_from, "to": date_to, "compare": compare})
    if not form.is_valid():
        raise BadRequest(_form_errors(form))
    return form.cleaned_data


def _window_json(window: kpis.Window | None):
    if window is None:
        return None
    return {"from": window.start, "to": window.end, "days": window.days}


@api.get("/kpis/", url_name="kpis", summary="Window KPIs for a range and comparison")
@analytics_read_view  # on the replica when one is fresh, as the pages
def kpis_view(
    request,
    date_from: str | None = Query(None, alias="from", description="YYYY-MM-DD"),
    date_to: str | None = Query(None, alias="to", description="YYYY-MM-DD"),
    compare: str | None = Query(None, description="previous (default), year, none"),
):
    """Every KPI of docs/kpi_definitions.md over the range, with its value in the
    comparison and the change (null: not applicable or nothing to compare)."""
    data = _range(date_from, date_to, compare)
    window = data["window"]
    compared = window.compared(data.get("compare") or kpis.COMPARE_PREVIOUS)
    result = kpis.kpi_comparison(window, compared)
    return {
        "kpi_definitions_version": kpis.KPI_DEFINITIONS_VERSION,
        "range": _window_json(window),
        "compare": data.get("compare") or kpis.COMPARE_PREVIOUS,
        "comparison": _window_json(compared),
        "prior_data": result["prior_data"],
        "kpis": {
            name: {
                "value": kpi.current,
                "previous": kpi.previous,
                "change": kpi.change,
                "change_ratio": kpi.change_ratio,
            }
            for name, kpi in result["kpis"].items()
        },
    }


@api.get("/daily/", url_name="daily", summary="Daily series from the snapshots")
@analytics_read_view  # on the replica when one is fresh, as the pages
def daily_view(
    request,
    date_from: str | None = Query(None, alias="from", description="YYYY-MM-DD"),
    date_to: str | None = Query(None, alias="to", description="YYYY-MM-DD"),
):
    """One row per business day of the range (a day without a snapshot: zeros and
    `built` false), with the daily_kpis export's columns."""
    window = _range(date_from, date_to)["window"]
    series = kpis.daily_series(start=window.start, end=window.end)
    return {
        "range": _window_json(window),
        "columns": [*SERIES_COLUMNS, "built"],
        "rows": [
            {
                **{c: getattr(day, c) for c in SERIES_COLUMNS},
                "built": day.built_at is not None,
            }
            for day in series
        ],
    }


@api.get("/exports/", url_name="exports", summary="The exports and their columns")
def exports_view(request):
    return {
        "exports": [
            {
                "name": e.name,
                "title": e.title,
                "columns": e.columns,
                "as_of": e.as_of,
                "personal_data": e.personal_data,
            }
            for e in EXPORTS.values()
        ]
    }


@api.get("/exports/{name}/", url_name="export_rows", summary="An export's rows, a page")
@analytics_read_view  # on the replica when one is fresh, as the pages
def export_rows_view(
    request,
    name: str,
    date_from: str | None = Query(None, description="YYYY-MM-DD, as the CSV's"),
    date_to: str | None = Query(None, description="YYYY-MM-DD, as the CSV's"),
    cursor: str | None = Query(None, description="next_cursor of the page before"),
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
):
    """The rows the CSV download has, in its order, `limit` at a time: pass each
    page's `next_cursor` to get the next (null on the last page). Audited like a
    download (format "json", the page's row count and SHA-256)."""
    export = EXPORTS.get(name)
    if export is None:
        raise HttpError(404, f"No export named {name!r}: GET /api/exports/ lists them.")
    form = ExportForm({"date_from": date_from, "date_to": date_to})
    if not form.is_valid():
        raise BadRequest(_form_errors(form))
    filters = export.applied(
        Filters(form.cleaned_data.get("date_from"), form.cleaned_data.get("date_to"))
    )
    rows, next_cursor = export_page(export, filters, cursor, limit)
    cells = [[_cell(v) for v in row] for row in rows]
    body = json.dumps(cells, cls=DjangoJSONEncoder).encode("utf-8")
    tally = {
        "rows": len(cells),
        "sha256": hashlib.sha256(body).hexdigest(),
        "complete": next_cursor is None,
        "filters": filters.as_dict(),
    }
    audit_export(
        name=name,
        filters=filters,
        tally=tally,
        actor=request.user,
        request=request,
        fmt="json",
    )
    return {
        "export": name,
        "columns": export.columns,
        "filters": filters.as_dict(),
        "rows": cells,
        "next_cursor": next_cursor,
    }


def _cell(value):
    """A CSV cell's value as JSON: pennies and counts stay numbers, a Decimal is
    its exact text, a time is ISO 8601 UTC with a Z as in the CSV."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


# --- keyset pages ------------------------------------------------------------------


def _cursor_value(value):
    # Full precision: DjangoJSONEncoder would cut a time to milliseconds, and a
    # keyset cursor must hold the exact key.
    if isinstance(value, dt.date | Decimal):
        return value.isoformat() if isinstance(value, dt.date) else str(value)
    raise TypeError(f"no cursor form for {type(value).__name__}")


def _encode(payload) -> str:
    raw = json.dumps(payload, default=_cursor_value, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str):
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadRequest(BAD_CURSOR) from exc


def export_page(export: Export, filters: Filters, cursor: str | None, limit: int):
    """One page of an export's rows and the cursor of the next (None: last page).

    A queryset export pages by keyset on its own ordering (ending in a unique
    key): the cursor holds the last row's key values, so each page is one indexed
    query however deep it is. A computed export (bounded: days of a range, or
    variants) pages by position in its rows."""
    if isinstance(export.rows, QueryRows):
        return _keyset_page(export.rows, filters, cursor, limit)
    start = 0
    if cursor is not None:
        position = _decode(cursor)
        if not isinstance(position, dict) or not isinstance(position.get("n"), int):
            raise BadRequest(BAD_CURSOR)
        start = max(position["n"], 0)
    rows = list(itertools.islice(export.rows(filters), start, start + limit + 1))
    more = len(rows) > limit
    return rows[:limit], (_encode({"n": start + limit}) if more else None)


def _ordering(queryset) -> list[tuple[str, object]]:
    """The queryset's ordering as (path, model field), ending in a unique one."""
    model = queryset.model
    keys = []
    for name in queryset.query.order_by:
        if not isinstance(name, str) or name.startswith("-"):
            raise TypeError(f"keyset pages need plain ascending orderings: {name!r}")
        path = model._meta.pk.name if name == "pk" else name
        keys.append((path, model._meta.get_field(path)))
    if not any(f.unique or f.primary_key for _, f in keys):
        keys.append((model._meta.pk.name, model._meta.pk))
    return keys


def _after(keys, values, *, nulls_first: bool) -> Q:
    """Rows after `values` in the order of `keys`, nulls placed as the database
    places them by default (so the pages come in the CSV's order)."""
    condition = Q(pk__in=[])
    equal = Q()
    for i, ((_, field), value) in enumerate(zip(keys, values, strict=True)):
        alias = f"_key{i}"
        if value is None:
            after_null = Q(**{f"{alias}__isnull": False})
            greater = after_null if nulls_first else Q(pk__in=[])
            same = Q(**{f"{alias}__isnull": True})
        else:
            greater = Q(**{f"{alias}__gt": value})
            if field.null and not nulls_first:
                greater |= Q(**{f"{alias}__isnull": True})
            same = Q(**{alias: value})
        condition |= equal & greater
        equal &= same
    return condition


def _keyset_page(rows: QueryRows, filters: Filters, cursor: str | None, limit: int):
    queryset = rows.build(filters)
    keys = _ordering(queryset)
    aliases = [f"_key{i}" for i in range(len(keys))]
    # PostgreSQL sorts nulls last in an ascending order, SQLite first: the CSV
    # has them where its database puts them, and so do these pages.
    nulls_first = connections[queryset.db].vendor != "postgresql"
    queryset = queryset.annotate(
        **{a: F(path) for a, (path, _) in zip(aliases, keys, strict=True)}
    ).order_by(
        *(
            (F(a).asc(nulls_first=True) if nulls_first else F(a).asc(nulls_last=True))
            if field.null
            else F(a).asc()
            for a, (_, field) in zip(aliases, keys, strict=True)
        )
    )
    if cursor is not None:
        values = _decode(cursor)
        if not isinstance(values, list) or len(values) != len(keys):
            raise BadRequest(BAD_CURSOR)
        try:
            values = [
                None if v is None else field.to_python(v)
                for v, (_, field) in zip(values, keys, strict=True)
            ]
        except Exception as exc:  # a field's own parse error, whatever its type
            raise BadRequest(BAD_CURSOR) from exc
        queryset = queryset.filter(_after(keys, values, nulls_first=nulls_first))
    width = len(rows.fields)
    fetched = list(queryset.values_list(*rows.fields, *aliases)[: limit + 1])
    more = len(fetched) > limit
    page = fetched[:limit]
    next_cursor = _encode(list(page[-1][width:])) if more and page else None
    return [row[:width] for row in page], next_cursor
