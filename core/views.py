"""The development outbox: what the shop's emails said, for admins, where mail is
not delivered to real inboxes (DEBUG on, or a console, file or in-memory
backend). Elsewhere it answers 404."""

from csp.constants import NONE, UNSAFE_INLINE
from csp.decorators import csp_replace
from django.conf import settings
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render

from core.mail import kind_label
from core.models import Message

LOCAL_BACKENDS = {
    "django.core.mail.backends.console.EmailBackend",
    "django.core.mail.backends.filebased.EmailBackend",
    "django.core.mail.backends.locmem.EmailBackend",
    "django.core.mail.backends.dummy.EmailBackend",
}


def outbox_enabled() -> bool:
    return settings.DEBUG or settings.EMAIL_BACKEND in LOCAL_BACKENDS


# An email's HTML part keeps its inline styles; it may run nothing and load nothing.
@csp_replace({"style-src": [UNSAFE_INLINE], "img-src": [NONE], "script-src": [NONE]})
def _html_part(request, message: Message) -> HttpResponse:
    return HttpResponse(message.body_html or "<p>(no HTML part)</p>")


def outbox(request):
    """Every recorded message, newest first, with its text; ?html=<id> shows one
    message's HTML part as the customer's mail client would."""
    if not outbox_enabled():
        raise Http404("The outbox exists only where mail is not really sent.")
    if request.GET.get("html", "").isdigit():
        message = get_object_or_404(Message, pk=int(request.GET["html"]))
        return _html_part(request, message)
    page = Paginator(Message.objects.all(), 25).get_page(request.GET.get("page"))
    for message in page:
        message.kind_label = kind_label(message.kind)
    return render(request, "core/outbox.html", {"page": page})
