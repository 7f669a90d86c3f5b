from django import forms
from django.conf import settings
from django.contrib.auth.forms import (
    AuthenticationForm,
    BaseUserCreationForm,
    PasswordResetForm,
)
from django.urls import reverse

from accounts.models import User
from accounts.throttle import reset_allowed
from audit.services import audit_record
from core.mail import message_send


class EmailAuthenticationForm(AuthenticationForm):
    username = forms.EmailField(
        label="Email",
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )


class SignupForm(BaseUserCreationForm):
    class Meta:
        model = User
        fields = ("email", "full_name")

    def clean_email(self):
        return self.cleaned_data["email"].lower()

    def validate_unique(self):
        """Never "this email already exists" (account enumeration): the view
        answers the same for a taken address (accounts/verification.py), and the
        database's unique constraint still holds."""


class ThrottledPasswordResetForm(PasswordResetForm):
    """Django's reset form, its email sent as a recorded message after commit
    (core.mail) and never more than the limits allow; the page answers the same
    whether or not the address has an account, and whether or not it was sent."""

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.request = request

    def get_users(self, email):
        if not reset_allowed(self.request, email):
            return []
        return super().get_users(email)

    def send_mail(
        self,
        subject_template_name,
        email_template_name,
        context,
        from_email,
        to_email,
        html_email_template_name=None,
    ):
        path = reverse(
            "accounts:password_reset_confirm", args=[context["uid"], context["token"]]
        )
        message_send(
            kind="password_reset",
            to=to_email,
            context={
                "user": context["user"],
                "link": f"{settings.SITE_URL}{path}",
                "hours": settings.PASSWORD_RESET_TIMEOUT // 3600,
            },
            target=context["user"],
            dedupe_key=context["token"][:100],
        )
        audit_record(
            event_type="accounts.password_reset_requested",
            actor=None,
            target=context["user"],
        )
