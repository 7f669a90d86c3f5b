"""The user's API tokens page: make (the token shown once), list, revoke."""

from django import forms
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from analyticsapp.api_tokens import (
    api_token_create,
    api_token_list_for_user,
    api_token_revoke,
    requests_per_minute,
)
from analyticsapp.models import ApiToken


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=100,
        help_text="What the token is for, e.g. the script or BI tool that uses it.",
    )


def _page(request, form, *, created=None, plain="", status=200):
    response = render(
        request,
        "analyticsapp/api_tokens.html",
        {
            "form": form,
            "tokens": api_token_list_for_user(user=request.user),
            "created": created,
            "plain_token": plain,
            "per_minute": requests_per_minute(),
        },
        status=status,
    )
    response["Cache-Control"] = "no-store"  # the page may carry a token
    return response


def api_tokens(request):
    if request.method != "POST":
        return _page(request, ApiTokenForm())
    form = ApiTokenForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=400)
    token, plain = api_token_create(
        user=request.user, name=form.cleaned_data["name"], request=request
    )
    return _page(request, ApiTokenForm(), created=token, plain=plain)


@require_POST
def api_token_revoke_view(request, pk):
    try:
        token = api_token_revoke(user=request.user, token_id=pk, request=request)
    except ApiToken.DoesNotExist as exc:
        raise Http404("No such token of yours") from exc
    messages.success(request, f"Token “{token.name}” revoked: it no longer works.")
    return redirect("analyticsapp:api_tokens")
