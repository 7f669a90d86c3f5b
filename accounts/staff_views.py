"""Staff management pages for admins (accounts/staff.py)."""

from django import forms
from django.contrib import messages
from django.contrib.auth.views import PasswordResetConfirmView
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse_lazy
from django.views.decorators.http import require_POST

from accounts.models import User
from accounts.roles import ROLE_PRECEDENCE, STAFF_ROLES, Role
from accounts.staff import (
    invite_tokens,
    staff_invite,
    staff_list,
    staff_set_active,
    staff_set_role,
)
from audit.services import audit_record
from core.exceptions import DomainError

STAFF_ROLE_CHOICES = [(r.value, r.label) for r in ROLE_PRECEDENCE if r in STAFF_ROLES]


class InviteForm(forms.Form):
    email = forms.EmailField(label="Email")
    full_name = forms.CharField(label="Name", max_length=150, required=False)
    role = forms.ChoiceField(label="Role", choices=STAFF_ROLE_CHOICES)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=STAFF_ROLE_CHOICES)


def staff(request):
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = staff_invite(actor=request.user, **form.cleaned_data)
        except DomainError as exc:
            form.add_error("email", str(exc))
        else:
            messages.success(
                request,
                f"Invited {user.email} as {Role(form.cleaned_data['role']).label}: "
                f"the email's link sets their password.",
            )
            return redirect("accounts:staff")
    members = [
        (member, member.primary_role, not member.has_usable_password())
        for member in staff_list()
    ]
    return render(
        request,
        "accounts/staff.html",
        {"form": form, "members": members, "role_choices": STAFF_ROLE_CHOICES},
        status=400 if form.errors else 200,
    )


@require_POST
def staff_role(request, pk):
    member = get_object_or_404(User, pk=pk)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a staff role.")
        return redirect("accounts:staff")
    try:
        staff_set_role(user=member, role=form.cleaned_data["role"], actor=request.user)
    except DomainError as exc:
        messages.error(request, str(exc))
    else:
        label = Role(form.cleaned_data["role"]).label
        messages.success(request, f"{member.email} is now {label}.")
    return redirect("accounts:staff")


@require_POST
def staff_active(request, pk):
    member = get_object_or_404(User, pk=pk)
    active = request.POST.get("active") == "1"
    try:
        staff_set_active(user=member, active=active, actor=request.user)
    except DomainError as exc:
        messages.error(request, str(exc))
    else:
        state = "reactivated" if active else "deactivated: they can no longer sign in"
        messages.success(request, f"{member.email} is {state}.")
    return redirect("accounts:staff")


class InviteAcceptView(PasswordResetConfirmView):
    """The invitation's link: the colleague sets their password, then signs in."""

    template_name = "accounts/invite_accept.html"
    token_generator = invite_tokens
    success_url = reverse_lazy("accounts:password_reset_complete")

    def form_valid(self, form):
        response = super().form_valid(form)
        audit_record(
            event_type="accounts.invitation_accepted", actor=form.user, target=form.user
        )
        return response
