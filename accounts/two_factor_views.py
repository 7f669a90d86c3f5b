"""The second-factor pages: set up an authenticator app, and verify a sign-in."""

import base64

from django import forms
from django.contrib import messages
from django.shortcuts import redirect, render
from django_otp import login as otp_login

from accounts import two_factor
from accounts.navigation import role_home
from core.redirects import safe_next


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Sign-in code",
        max_length=32,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "text",
                "autofocus": True,
            }
        ),
    )


def _home(request) -> str:
    return safe_next(request) or role_home(request.user)


def two_factor_setup(request):
    """Enrol an authenticator app: the QR code and the secret, then a code."""
    user = request.user
    if user.is_verified():
        messages.info(
            request, "Your sign-in is already confirmed with a second factor."
        )
        return redirect(_home(request))
    if two_factor.user_has_device(user, confirmed=True):
        return redirect("accounts:two_factor_verify")
    device = two_factor.pending_totp(user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        codes = two_factor.enrol_confirm(
            user=user, device=device, token=form.cleaned_data["code"].strip()
        )
        if codes is not None:
            otp_login(request, device)
            return render(
                request,
                "accounts/two_factor_codes.html",
                {"codes": codes, "next": _home(request)},
            )
        form.add_error(
            "code", "That code is not right: enter the 6 digits the app shows now."
        )
    return render(
        request,
        "accounts/two_factor_setup.html",
        {
            "form": form,
            "qr_svg": two_factor.provisioning_svg(device),
            "secret": base64.b32encode(device.bin_key).decode(),
            "next": safe_next(request),
        },
        status=400 if form.errors else 200,
    )


def two_factor_verify(request):
    """The second step of a staff sign-in: a code from the app or a recovery code."""
    user = request.user
    if user.is_verified():
        return redirect(_home(request))
    if not two_factor.user_has_device(user, confirmed=True):
        return redirect("accounts:two_factor_setup")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = two_factor.verify_code(user=user, token=form.cleaned_data["code"])
        if device is not None:
            otp_login(request, device)
            return redirect(_home(request))
        form.add_error("code", "That code is not right, or was used already.")
    return render(
        request,
        "accounts/two_factor_verify.html",
        {"form": form, "next": safe_next(request)},
        status=400 if form.errors else 200,
    )
