import pytest
from django.db import DatabaseError, connection, transaction

from audit.models import AuditLog
from audit.services import audit_erase_person, audit_record

pytestmark = pytest.mark.django_db


def test_audit_record_keeps_who_role_what_target_and_where(rf, ops_user):
    request = rf.get("/ops/", REMOTE_ADDR="203.0.113.9")
    request.user = ops_user
    request.request_id = "req-1234abcd"
    row = audit_record(
        event_type="orders.fulfilled",
        target=ops_user,
        metadata={"tracking": "RM123"},
        request=request,
    )
    row.refresh_from_db()
    assert row.actor == ops_user
    assert row.actor_label == ops_user.email
    assert row.actor_role == "ops"
    assert (row.target_type, row.target_id) == ("accounts.user", str(ops_user.pk))
    assert row.metadata == {"tracking": "RM123"}
    assert row.ip_address == "203.0.113.9"
    assert row.request_id == "req-1234abcd"


def test_audit_record_without_request_names_the_system():
    row = audit_record(event_type="snapshots.built", metadata={"days": 7})
    assert row.actor is None
    assert row.actor_label == "system"
    assert row.ip_address is None


def test_audit_rows_cannot_be_updated_or_deleted_through_the_orm(customer):
    row = audit_record(event_type="x.happened", target=customer)
    row.event_type = "y.happened"
    with pytest.raises(PermissionError):
        row.save()
    with pytest.raises(PermissionError):
        row.delete()
    with pytest.raises(PermissionError):
        AuditLog.objects.filter(pk=row.pk).update(event_type="z")
    with pytest.raises(PermissionError):
        AuditLog.objects.filter(pk=row.pk).delete()
    row.refresh_from_db()
    assert row.event_type == "x.happened"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # the erasure's transaction is a real one
def test_an_erasure_rewrites_only_inside_its_own_transaction(customer):
    """The trigger lets the erasure's rewrite through for its transaction alone:
    afterwards every UPDATE is refused again, and DELETE never passes."""
    row = audit_record(event_type="x.happened", actor_label=customer.email)
    with transaction.atomic():
        rewritten = audit_erase_person(
            user=customer,
            scrub=lambda v: "anonymised" if v == customer.email else v,
            email=customer.email,
        )
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute("DELETE FROM audit_auditlog WHERE id = %s", [row.pk])
    assert rewritten == 1
    row.refresh_from_db()
    assert row.actor_label == "anonymised"
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "UPDATE audit_auditlog SET actor_label = 'forged' WHERE id = %s", [row.pk]
        )


@pytest.mark.postgres
def test_postgres_refuses_raw_update_and_delete_of_audit_rows(customer):
    row = audit_record(event_type="x.happened", target=customer)
    for sql in (
        "UPDATE audit_auditlog SET event_type = 'forged' WHERE id = %s",
        "DELETE FROM audit_auditlog WHERE id = %s",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [row.pk])
    row.refresh_from_db()
    assert row.event_type == "x.happened"


def test_a_user_with_audit_history_cannot_be_deleted(customer):
    from django.db.models import ProtectedError

    audit_record(event_type="auth.login", actor=customer)
    with pytest.raises(ProtectedError):
        customer.delete()


def test_audit_admin_is_read_only(client, admin_user):
    row = audit_record(event_type="x.happened", target=admin_user)
    client.force_login(admin_user)
    assert client.get("/admin/audit/auditlog/").status_code == 200
    detail = client.get(f"/admin/audit/auditlog/{row.pk}/change/")
    assert detail.status_code == 200
    assert b'name="_save"' not in detail.content
    assert client.get("/admin/audit/auditlog/add/").status_code == 403
    assert (
        client.post(
            f"/admin/audit/auditlog/{row.pk}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )
    assert AuditLog.objects.filter(pk=row.pk).exists()


def test_audit_admin_filters_by_user_event_type_and_date(client, admin_user, customer):
    audit_record(event_type="a.one", actor=customer)
    audit_record(event_type="b.two", actor=admin_user)
    client.force_login(admin_user)
    by_type = client.get("/admin/audit/auditlog/", {"event_type": "a.one"})
    assert by_type.context["cl"].result_count == 1
    by_user = client.get("/admin/audit/auditlog/", {"actor__id__exact": customer.pk})
    assert {r.event_type for r in by_user.context["cl"].result_list} == {"a.one"}
    by_day = client.get(
        "/admin/audit/auditlog/", {"created_at__gte": "2000-01-01T00:00:00+00:00"}
    )
    assert by_day.context["cl"].result_count >= 2
