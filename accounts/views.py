from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.views import LoginView, LogoutView
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.generic import FormView

from accounts.forms import EmailAuthenticationForm, SignupForm
from accounts.roles import Role
from accounts.services import customer_signup
from accounts.throttle import signin_refusal

# URL names of each staff role's home; customers (and anyone else) get the shop.
ROLE_HOMES = {
    Role.ADMIN: "monitoring:issues",
    Role.OPS: "ops:queue",
    Role.ANALYST: "analyticsapp:dashboard",
}


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
        return reverse(ROLE_HOMES.get(self.request.user.primary_role, "catalog:home"))


class SignOutView(LogoutView):
    pass


class SignupView(FormView):
    template_name = "accounts/signup.html"
    form_class = SignupForm

    def form_valid(self, form):
        user = customer_signup(
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password1"],
            full_name=form.cleaned_data["full_name"],
        )
        login(self.request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(self.request, "Welcome to PureLaka: your account is ready.")
        return redirect("catalog:home")


def account(request):
    user = request.user
    roles = [Role(name).label for name in sorted(user.roles)]
    return render(
        request, "accounts/account.html", {"account_user": user, "roles": roles}
    )
