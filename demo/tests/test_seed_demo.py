import pytest
from django.core.management import call_command

from accounts.models import User
from audit.models import AuditLog

pytestmark = pytest.mark.django_db


def _emails():
    return sorted(User.objects.values_list("email", flat=True))


def test_seed_demo_creates_a_login_per_role_and_prints_them(capsys):
    call_command("seed_demo", "--customers", "5")
    out = capsys.readouterr().out
    for role in ("admin", "ops", "analyst", "customer"):
        user = User.objects.get(email=f"{role}@purelaka.test")
        assert user.roles == {role}
        assert user.check_password("purelaka-demo")
        assert f"{role}@purelaka.test" in out


def test_seed_demo_is_idempotent(capsys):
    call_command("seed_demo", "--customers", "5")
    users, audits = User.objects.count(), AuditLog.objects.count()
    call_command("seed_demo", "--customers", "5")
    assert (User.objects.count(), AuditLog.objects.count()) == (users, audits)
    assert "nothing to add" in capsys.readouterr().out


def test_seed_demo_is_deterministic_for_a_seed(django_db_reset_sequences):
    call_command("seed_demo", "--seed", "7", "--customers", "8")
    first = _emails()
    User.objects.exclude(email__endswith="@purelaka.test").update(is_active=False)
    call_command("seed_demo", "--seed", "7", "--customers", "8")
    assert _emails() == first
    call_command("seed_demo", "--seed", "8", "--customers", "8")
    assert _emails() != first


def test_seed_demo_refuses_a_negative_count():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="zero or more"):
        call_command("seed_demo", "--customers", "-1")
