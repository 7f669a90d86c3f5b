import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_unknown_page_renders_the_house_404(client):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert "We couldn't find that page" in response.content.decode()


def test_forbidden_page_renders_the_house_403(client, customer):
    client.force_login(customer)
    response = client.get("/admin/")
    assert response.status_code == 403
    assert "You don't have access to this page" in response.content.decode()


def test_500_page_renders_without_a_request_context():
    from django.template.loader import render_to_string

    html = render_to_string("500.html")
    assert "Something went wrong on our side" in html


def test_every_page_carries_a_csp_without_inline_script(client):
    policy = client.get("/")["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert "unsafe-inline" not in policy
    assert directives["frame-ancestors"] == "'none'"


def test_pages_load_no_asset_from_another_origin_and_no_inline_script(client):
    html = client.get("/account/login/").content.decode()
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert not url.startswith(("http:", "https:", "//")), url
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert not re.search(r"\son[a-z]+=", html)


def test_forms_require_a_csrf_token(customer):
    strict = Client(enforce_csrf_checks=True)
    response = strict.post(
        "/account/login/", {"username": customer.email, "password": "x"}
    )
    assert response.status_code == 403
    page = strict.get("/account/login/").content.decode()
    assert 'name="csrfmiddlewaretoken"' in page


def test_navigation_follows_the_role(client, customer, admin_user):
    anonymous = client.get("/").content.decode()
    assert 'href="/admin/"' not in anonymous
    client.force_login(customer)
    assert 'href="/admin/"' not in client.get("/").content.decode()
    client.force_login(admin_user)
    assert 'href="/admin/"' in client.get("/").content.decode()


def test_every_response_carries_a_request_id_and_keeps_a_sane_incoming_one(client):
    generated = client.get("/")["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    kept = client.get("/", headers={"X-Request-ID": "edge-abc-12345"})["X-Request-ID"]
    assert kept == "edge-abc-12345"
    replaced = client.get("/", headers={"X-Request-ID": "bad id\nwith newline"})
    assert replaced["X-Request-ID"] != "bad id\nwith newline"
