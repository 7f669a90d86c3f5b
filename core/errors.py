from django.core.exceptions import BadRequest
from django.shortcuts import render

from core.exceptions import IllegalTransition


class DomainErrorMiddleware:
    """Turns an IllegalTransition raised by a view into a 409 page with its message,
    and a BadRequest (bad input a form refused) into a 400 page with its own."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, IllegalTransition):
            return render(request, "409.html", {"message": str(exception)}, status=409)
        if isinstance(exception, BadRequest):
            return render(request, "400.html", {"message": str(exception)}, status=400)
        return None
