"""The current request and its id, for log lines and audit rows."""

import contextvars

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar(
    "request_id", default="-"
)
request_var: contextvars.ContextVar = contextvars.ContextVar("request", default=None)


def current_request_id() -> str:
    return request_id_var.get()


def current_request():
    """The HttpRequest being served on this thread, or None (commands, tasks)."""
    return request_var.get()
