import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.test import RequestFactory
from django.views import View

from accounts.access import RoleRequiredMixin, role_required
from accounts.roles import Role


@role_required(Role.OPS, Role.ADMIN)
def ops_view(request):
    return HttpResponse("ops page")


class AnalystView(RoleRequiredMixin, View):
    required_roles = (Role.ANALYST,)

    def get(self, request):
        return HttpResponse("analyst page")


def _request(user):
    request = RequestFactory().get("/somewhere/?x=1")
    request.user = user
    return request


@pytest.mark.django_db
def test_role_required_lets_the_role_in(ops_user):
    assert ops_view(_request(ops_user)).content == b"ops page"


@pytest.mark.django_db
def test_role_required_refuses_another_role_with_403(customer):
    with pytest.raises(PermissionDenied):
        ops_view(_request(customer))


def test_role_required_sends_anonymous_to_login_with_next():
    response = ops_view(_request(AnonymousUser()))
    assert response.status_code == 302
    assert "/account/login/?next=/somewhere/%3Fx%3D1" in response["Location"]


@pytest.mark.django_db
def test_mixin_gives_the_same_answers(analyst, ops_user):
    view = AnalystView.as_view()
    assert view(_request(analyst)).content == b"analyst page"
    with pytest.raises(PermissionDenied):
        view(_request(ops_user))
    assert view(_request(AnonymousUser())).status_code == 302
