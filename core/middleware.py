import re
import uuid

from core.request_context import request_id_var, request_var

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestIdMiddleware:
    """Gives every request an id: the proxy's `X-Request-ID` when sane, else a UUID.

    The id is on `request.request_id`, in the log context, in audit rows and in the
    response's `X-Request-ID` header.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        id_token = request_id_var.set(request_id)
        request_token = request_var.set(request)
        try:
            response = self.get_response(request)
        finally:
            request_var.reset(request_token)
            request_id_var.reset(id_token)
        response["X-Request-ID"] = request_id
        return response
