"""Log records for operators: a request id on every line, secrets redacted, JSON.

`purelaka.settings_prod` installs all three on its console handler: one JSON object
per line (JsonFormatter), the request id (RequestIdFilter) and no secret or card
number (RedactSecretsFilter). Nothing here writes anywhere but the log record.
"""

import datetime as dt
import json
import logging
import re

from core.request_context import current_request_id

# The attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", logging.INFO, "", 0, "", (), None))
) | {"message", "asctime", "request_id"}

REDACTED = "[REDACTED]"
_SECRETS = [
    # Stripe secret and restricted keys, webhook signing secrets.
    (re.compile(r"\b((?:sk|rk)_(?:live|test)_)[A-Za-z0-9_]+"), rf"\1{REDACTED}"),
    (re.compile(r"\b(whsec_)[A-Za-z0-9_]+"), rf"\1{REDACTED}"),
    # An Authorization header in any spelling: `Authorization: Bearer x`,
    # `'HTTP_AUTHORIZATION': 'Basic x'`, `authorization=x`.
    (
        re.compile(
            r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)"
            r"(?:(?:bearer|basic|token)\s+)?[^\s\"',;]+"
        ),
        rf"\1{REDACTED}",
    ),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+"), rf"\1{REDACTED}"),
    # Anything shaped like a card number: 13-19 digits, spaces or dashes allowed
    # between them. No Luhn check: a mistyped card number is still card data.
    (re.compile(r"(?<!\w)\d(?:[ -]?\d){12,18}(?!\w)"), "[REDACTED-PAN]"),
]


def redact(text: str) -> str:
    """`text` with every secret-looking value replaced by [REDACTED]."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every log record.

    Inside a request it is the request's id. django.request logs some 4xx/5xx
    responses after the request-id middleware has returned; those records carry the
    request itself, and take its id from there. Outside a request: "-".
    """

    def filter(self, record):
        request_id = current_request_id()
        if request_id == "-":
            request = getattr(record, "request", None)
            request_id = getattr(request, "request_id", None) or "-"
        record.request_id = request_id
        return True


class RedactSecretsFilter(logging.Filter):
    """Redacts secret keys, Authorization headers and card-number-like digit runs.

    Rewrites the record in place, so every handler after this filter sees the
    redacted text: the message (with its arguments merged in, when anything in them
    was redacted), string `extra=` values, and the exception and stack text.
    """

    def filter(self, record):
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: logging reports it itself
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        for name, value in list(vars(record).items()):
            if name not in _RECORD_ATTRIBUTES and isinstance(value, str):
                setattr(record, name, redact(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line.

    Keys: time (UTC, ISO 8601), level, logger, message, request_id (null outside a
    request), then `exception` and `stack` when present, then any `extra=` values
    that are plain JSON scalars (str, int, float, bool, None).
    """

    def format(self, record):
        request_id = getattr(record, "request_id", None) or current_request_id()
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, tz=dt.UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": None if request_id == "-" else request_id,
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        for name, value in vars(record).items():
            if name in _RECORD_ATTRIBUTES or name in entry:
                continue
            if value is None or isinstance(value, str | int | float | bool):
                entry[name] = value
        return json.dumps(entry, ensure_ascii=False, default=str)
