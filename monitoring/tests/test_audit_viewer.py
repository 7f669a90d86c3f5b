import csv
import hashlib
import io
import json

import pytest
from django.urls import reverse

from audit.models import AuditLog
from audit.services import audit_record
from catalog.tests.factories import VariantFactory
from orders.tests.factories import place_order

pytestmark = pytest.mark.django_db


def test_the_audit_viewer_filters_by_user_event_object_and_date(
    client, admin_user, customer
):
    audit_record(
        event_type="order.fulfilled",
        actor=customer,
        target_type="orders.order",
        target_id="42",
    )
    audit_record(
        event_type="stock.adjusted",
        actor=admin_user,
        target_type="catalog.variant",
        target_id="7",
    )
    client.force_login(admin_user)

    def events(**params):
        page = client.get(reverse("monitoring:audit"), params).context["page"]
        return {row.event_type for row in page.object_list}

    assert events(user=customer.email) >= {"order.fulfilled"}
    assert "stock.adjusted" not in events(user=customer.email)
    assert events(event_type="stock.") == {"stock.adjusted"}
    assert events(target="orders.order:42") == {"order.fulfilled"}
    assert events(target="orders.order:43") == set()
    assert "order.fulfilled" in events(date_from="2000-01-01", date_to="2100-12-31")
    assert events(date_to="2000-01-01") == set()


def test_the_audit_export_is_itself_audited(client, admin_user):
    audit_record(event_type="x.happened", actor=admin_user)
    client.force_login(admin_user)
    response = client.get(reverse("monitoring:audit_export"), {"event_type": "x."})
    data = b"".join(response.streaming_content)
    assert data.splitlines()[0].startswith(b"created_at,actor,actor_role,event_type")
    assert len(data.splitlines()) == 2
    row = AuditLog.objects.get(event_type="monitoring.audit_exported")
    assert row.metadata["rows"] == 1
    assert row.metadata["sha256"] == hashlib.sha256(data).hexdigest()


def test_only_admins_see_the_audit_trail(client, ops_user):
    client.force_login(ops_user)
    assert client.get(reverse("monitoring:audit")).status_code == 403
    assert client.get(reverse("monitoring:issues")).status_code == 200


def test_an_orders_rows_are_found_by_its_number(client, admin_user, customer):
    order = place_order(customer=customer, variants={VariantFactory(stock=3): 1})
    audit_record(event_type="order.noted", target=order)
    audit_record(event_type="order.other", target_type="orders.order", target_id="0")
    client.force_login(admin_user)
    page = client.get(reverse("monitoring:audit"), {"target": order.number.lower()})
    events = {row.event_type for row in page.context["page"].object_list}
    assert "order.noted" in events and "order.other" not in events
    nothing = client.get(reverse("monitoring:audit"), {"target": "NO-SUCH-1"})
    assert list(nothing.context["page"].object_list) == []


def test_the_audit_csv_writes_metadata_as_json_and_records_the_address(
    client, admin_user
):
    audit_record(event_type="x.json", metadata={"a": [1, "b"], "note": "café"})
    client.force_login(admin_user)
    response = client.get(
        reverse("monitoring:audit_export"),
        {"event_type": "x.json"},
        REMOTE_ADDR="203.0.113.9",
    )
    rows = list(
        csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))
    )
    assert json.loads(rows[0]["metadata"]) == {"a": [1, "b"], "note": "café"}
    exported = AuditLog.objects.get(event_type="monitoring.audit_exported")
    assert exported.ip_address == "203.0.113.9"
