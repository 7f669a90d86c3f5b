import pytest
from django.core.management import CommandError, call_command

from accounts.models import User
from audit.models import AuditLog

pytestmark = pytest.mark.django_db


def _emails():
    return sorted(User.objects.values_list("email", flat=True))


def test_seed_demo_creates_a_login_per_role_and_prints_them(capsys):
    call_command("seed_demo", "--customers", "5", "--days", "0")
    out = capsys.readouterr().out
    for role in ("admin", "ops", "analyst", "customer"):
        user = User.objects.get(email=f"{role}@purelaka.test")
        assert user.roles == {role}
        assert user.check_password("purelaka-demo")
        assert f"{role}@purelaka.test" in out


def test_seed_demo_is_idempotent(capsys):
    call_command("seed_demo", "--customers", "5", "--days", "0")
    users, audits = User.objects.count(), AuditLog.objects.count()
    call_command("seed_demo", "--customers", "5", "--days", "0")
    assert (User.objects.count(), AuditLog.objects.count()) == (users, audits)
    assert "nothing to add" in capsys.readouterr().out


def test_seed_demo_is_deterministic_for_a_seed(django_db_reset_sequences):
    call_command("seed_demo", "--seed", "7", "--customers", "8", "--days", "0")
    first = _emails()
    User.objects.exclude(email__endswith="@purelaka.test").update(is_active=False)
    call_command("seed_demo", "--seed", "7", "--customers", "8", "--days", "0")
    assert _emails() == first
    call_command("seed_demo", "--seed", "8", "--customers", "8", "--days", "0")
    assert _emails() != first


def test_seed_demo_refuses_a_negative_count():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="must be zero or more"):
        call_command("seed_demo", "--customers", "-1")


@pytest.mark.django_db(transaction=True)
def test_seeded_history_is_real_books_made_through_the_pipeline(capsys):
    """Without a test transaction around it, Stripe's events arrive on commit as
    they do in the demo."""
    from django.db.models import Sum

    from catalog.models import StockMovement, Variant
    from orders.models import Order
    from payments.models import Payment, Refund, StripeEvent

    call_command("seed_demo", "--customers", "12", "--days", "21")
    out = capsys.readouterr().out
    assert "history: day 21/21" in out and "orders/s" in out
    assert Payment.objects.filter(applied=True).count() >= 20
    assert not StripeEvent.objects.filter(status__in=["failed", "pending"]).exists()
    # Every paid, fulfilled or refunded order has exactly its one applied payment.
    for order in Order.objects.exclude(status="pending").exclude(paid_at=None):
        assert order.payments.filter(applied=True).count() == 1
    # Order refund totals follow the refund ledger.
    for order in Order.objects.exclude(refund_status="none"):
        refunded = Refund.objects.filter(
            payment__order=order, status="succeeded"
        ).aggregate(s=Sum("amount_pennies"))["s"]
        assert order.refunded_pennies == refunded
    # Stock on hand is the sum of its movements, for every variant.
    for variant in Variant.objects.all():
        moved = StockMovement.objects.filter(variant=variant).aggregate(s=Sum("delta"))[
            "s"
        ]
        assert variant.stock_on_hand == (moved or 0)
    # Paid times are spread over the history, not stamped "now".
    days = {p.paid_at.date() for p in Payment.objects.all()}
    assert len(days) >= 10
    # Payment Links paid in euros: revenue at what Stripe settled them for.
    from analyticsapp.models import DailySnapshot
    from payments.models import BalanceTransaction

    euros = list(Payment.objects.filter(currency="EUR"))
    assert len(euros) == 2  # one every ninth day
    for payment in euros:
        settled = BalanceTransaction.objects.get(
            charge_id=payment.stripe_charge_id, currency="GBP"
        ).amount_pennies
        assert settled == round(payment.amount_pennies * 0.86)
        snap = DailySnapshot.objects.get(day=payment.paid_at.date())
        assert snap.other_revenue_pennies == settled
    # Re-running adds nothing.
    counts = (Payment.objects.count(), Order.objects.count())
    call_command("seed_demo", "--customers", "12", "--days", "21")
    assert (Payment.objects.count(), Order.objects.count()) == counts


def test_seed_demo_refuses_where_debug_is_off_unless_allowed(settings, capsys):
    settings.DEMO_COMMANDS_ALLOWED = False
    with pytest.raises(CommandError, match="--allow-production"):
        call_command("seed_demo", "--customers", "5", "--days", "0")
    assert not User.objects.filter(email="admin@purelaka.test").exists()
    call_command("seed_demo", "--customers", "5", "--days", "0", "--allow-production")
    assert User.objects.filter(email="admin@purelaka.test").exists()
