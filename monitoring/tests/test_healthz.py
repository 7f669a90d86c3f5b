from unittest import mock

import pytest
from django.db import OperationalError

pytestmark = pytest.mark.django_db


def test_healthz_answers_ok_with_the_database_named(client):
    response = client.get("/monitoring/healthz/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}
    assert response["Cache-Control"] == "no-store"


def test_healthz_answers_503_naming_the_database_when_it_fails(client):
    with mock.patch(
        "monitoring.views.connection.cursor", side_effect=OperationalError("down")
    ):
        response = client.get("/monitoring/healthz/")
    assert response.status_code == 503
    assert response.json() == {
        "status": "error",
        "database": "unavailable",
        "failing": ["database"],
    }
    assert response["Cache-Control"] == "no-store"


def test_healthz_refuses_writes(client):
    assert client.post("/monitoring/healthz/").status_code == 405
