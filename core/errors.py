from django.shortcuts import render

from core.exceptions import IllegalTransition


class DomainErrorMiddleware:
    """Turns an IllegalTransition raised by a view into a 409 page with its message."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, IllegalTransition):
            return render(request, "409.html", {"message": str(exception)}, status=409)
        return None
