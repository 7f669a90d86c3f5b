"""The confirmation step of a deliberate action: one rule for every money action.

A money action (a refund, a cancel, a bulk action, a subscription cancellation) is
a POST that acts only when it carries ``confirmed=1``. Without it the view answers
with a page that restates what will happen, in words the user can check ("Refund
£21.95 to Visa •••• 4242 and restock 2 × Oat/L"), and a form that posts the same
fields again with ``confirmed=1``. Nothing is written before the second POST.

    def cancel(request, number):
        order = ...
        if page := confirmation_page(request, title=..., statements=[...],
                                     button="Cancel the order", back=...):
            return page
        order_cancel(...)
"""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

CONFIRMED = "confirmed"
_NOT_CARRIED = {"csrfmiddlewaretoken", CONFIRMED}


def is_confirmed(request: HttpRequest) -> bool:
    return request.POST.get(CONFIRMED) == "1"


def confirmation_page(
    request: HttpRequest,
    *,
    title: str,
    statements: list[str],
    button: str,
    back: str,
    danger: bool = True,
) -> HttpResponse | None:
    """None once confirmed; else the page that asks, carrying every posted field."""
    if is_confirmed(request):
        return None
    carried = [
        (name, value)
        for name in request.POST
        if name not in _NOT_CARRIED
        for value in request.POST.getlist(name)
    ]
    return render(
        request,
        "core/confirm.html",
        {
            "title": title,
            "statements": statements,
            "button": button,
            "back": back,
            "danger": danger,
            "carried": carried,
            "action": request.get_full_path(),
        },
    )
