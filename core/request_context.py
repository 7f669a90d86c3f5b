"""The current request and its id, for log lines and audit rows."""

import contextvars

from django.conf import settings

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar(
    "request_id", default="-"
)
request_var: contextvars.ContextVar = contextvars.ContextVar("request", default=None)


def current_request_id() -> str:
    return request_id_var.get()


def current_request():
    """The HttpRequest being served on this thread, or None (commands, tasks)."""
    return request_var.get()


def client_ip(request) -> str | None:
    """The client's address: REMOTE_ADDR, unless TRUSTED_PROXY_COUNT proxies we
    run sit in front of the app, each appending the address it saw to
    X-Forwarded-For; then the entry they appended for the client (the N-th from
    the right). Anything further left the client wrote itself and is ignored.
    One rule for audit rows and the sign-in lockout (AXES_CLIENT_IP_CALLABLE)."""
    if request is None:
        return None
    proxies = settings.TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies > 0 and forwarded:
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if len(hops) >= proxies:
            return hops[-proxies]
    return request.META.get("REMOTE_ADDR") or None
