from axes.utils import reset as reset_failed_logins
from django import forms
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.views import (
    LoginView,
    LogoutView,
    PasswordChangeView,
    PasswordResetCompleteView,
    PasswordResetConfirmView,
    PasswordResetDoneView,
    PasswordResetView,
)
from django.db import IntegrityError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse_lazy
from django.views.decorators.http import require_POST
from django.views.generic import FormView

from accounts.forms import (
    EmailAuthenticationForm,
    SignupForm,
    ThrottledPasswordResetForm,
)
from accounts.models import SavedAddress, User
from accounts.navigation import role_home
from accounts.roles import Role
from accounts.services import customer_signup
from accounts.throttle import signin_refusal, signup_allowed
from accounts.verification import (
    signup_existing,
    verification_confirm,
    verification_send,
)
from audit.services import audit_record
from core.redirects import redirect_back


class SignInView(LoginView):
    template_name = "accounts/login.html"
    authentication_form = EmailAuthenticationForm

    def post(self, request, *args, **kwargs):
        refusal = signin_refusal(request)
        if refusal:
            return render(
                request, "accounts/locked_out.html", {"message": refusal}, status=429
            )
        return super().post(request, *args, **kwargs)

    def get_default_redirect_url(self):
        """Without a `next`, each role lands on its own home."""
        return role_home(self.request.user)


class SignOutView(LogoutView):
    pass


class SignupView(FormView):
    """Sign-up that never says whether an address has an account: the same page
    for a new address (an account waiting for confirmation, and the link) and for
    a taken one (an email to its holder), neither signed in."""

    template_name = "accounts/signup.html"
    form_class = SignupForm

    def post(self, request, *args, **kwargs):
        if not signup_allowed(request):
            return render(
                request,
                "accounts/locked_out.html",
                {"message": "Too many sign-ups from your address: try again later."},
                status=429,
            )
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        email = form.cleaned_data["email"]
        password = form.cleaned_data["password1"]
        existing = User.objects.filter(email__iexact=email).first()
        if existing is not None:
            signup_existing(user=existing, password=password)
        else:
            try:
                user = customer_signup(
                    email=email,
                    password=password,
                    full_name=form.cleaned_data["full_name"],
                    verify=True,
                )
            except IntegrityError:  # signed up meanwhile: the same answer
                signup_existing(
                    user=User.objects.get(email__iexact=email), password=password
                )
            else:
                verification_send(user)
        return render(self.request, "accounts/signup_sent.html", {"email": email})


def verify(request, uidb64, token):
    """The link in the confirmation email: confirms the address and signs in."""
    user = verification_confirm(uidb64=uidb64, token=token)
    if user is None:
        return render(request, "accounts/verify_failed.html", status=400)
    if not request.user.is_authenticated:
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    messages.success(request, f"{user.email} is confirmed: welcome to PureLaka.")
    return redirect("catalog:home")


@require_POST
def verify_resend(request):
    user = request.user
    if user.email_verification_pending:
        verification_send(user)
    messages.success(request, f"We sent the confirmation link to {user.email} again.")
    return redirect_back(request, "accounts:account")


class PasswordResetRequestView(PasswordResetView):
    template_name = "accounts/password_reset.html"
    form_class = ThrottledPasswordResetForm
    success_url = reverse_lazy("accounts:password_reset_done")

    def get_form_kwargs(self):
        return super().get_form_kwargs() | {"request": self.request}


class PasswordResetSentView(PasswordResetDoneView):
    template_name = "accounts/password_reset_done.html"


class PasswordResetSetView(PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password_reset_complete")

    def form_valid(self, form):
        response = super().form_valid(form)
        user = form.user
        if user.email_verification_pending:  # the link proved the address too
            user.email_verification_pending = False
            user.save(update_fields=["email_verification_pending"])
        reset_failed_logins(username=user.email)
        audit_record(event_type="accounts.password_reset", actor=user, target=user)
        return response


class PasswordResetDoneSetView(PasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"


class PasswordChangeFormView(PasswordChangeView):
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("accounts:account")

    def form_valid(self, form):
        response = super().form_valid(form)
        audit_record(
            event_type="accounts.password_changed",
            actor=self.request.user,
            target=self.request.user,
        )
        messages.success(self.request, "Your password is changed.")
        return response


class NameForm(forms.Form):
    full_name = forms.CharField(label="Name", max_length=150, required=False)


def account(request):
    """The account page; a POST changes the name (audited)."""
    user = request.user
    form = NameForm(request.POST or None, initial={"full_name": user.full_name})
    if request.method == "POST" and form.is_valid():
        before = user.full_name
        user.full_name = form.cleaned_data["full_name"].strip()
        user.save(update_fields=["full_name"])
        audit_record(
            event_type="accounts.profile_updated",
            actor=user,
            target=user,
            metadata={"field": "full_name", "changed": before != user.full_name},
        )
        messages.success(request, "Your name is saved.")
        return redirect("accounts:account")
    roles = [Role(name).label for name in sorted(user.roles)]
    return render(
        request,
        "accounts/account.html",
        {
            "account_user": user,
            "roles": roles,
            "addresses": user.saved_addresses.all(),
            "name_form": form,
        },
        status=400 if form.errors else 200,
    )


@require_POST
def address_delete(request, pk):
    """Forget one of the signed-in user's saved addresses (another's is a 404)."""
    address = get_object_or_404(SavedAddress, pk=pk, user=request.user)
    address.delete()
    messages.success(request, f"Forgotten: {address.one_line}.")
    return redirect("accounts:account")
