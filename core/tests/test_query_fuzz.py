"""No query string makes a page answer 500 (issue 19): every page without path
arguments, and an order's pages, get hostile values for every parameter any page
reads (dates, numbers, ids, sorts, searches, pages) as each role that may see them;
the refund form gets hostile amounts. 4xx with a message is fine; 5xx is a bug."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from catalog.tests.factories import VariantFactory
from orders.tests.factories import place_order

pytestmark = pytest.mark.django_db

PARAMS = [
    "as_of", "date_from", "date_to", "days", "page", "sort", "q", "category",
    "status", "kind", "check", "severity", "target", "user", "event_type", "show",
    "low", "next", "from", "to", "paid",
]  # fmt: skip
HOSTILE = st.one_of(
    st.sampled_from(
        [
            "", "0", "-1", "1e309", "9" * 40, "NaN", "0001-01-01", "9999-12-31",
            "2026-02-30", "2026-13-01", "../../etc/passwd", "' OR 1=1 --",
            "<script>x</script>", "%00", "\x00", "\ufeff", "orders.order:abc",
            "orders.order:" + "9" * 30, ":", ".", "price", "-price", "newest",
        ]
    ),
    st.text(max_size=30),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
)  # fmt: skip


def _pages(resolver=None, prefix="") -> list[str]:
    """Every named URL without path arguments, by its reversible name."""
    resolver = resolver or get_resolver()
    names = []
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            namespace = f"{prefix}{entry.namespace}:" if entry.namespace else prefix
            names += _pages(entry, namespace)
        elif (
            isinstance(entry, URLPattern)
            and entry.name
            and not entry.pattern.regex.groups
        ):
            names.append(prefix + entry.name)
    return names


SKIP = {
    "payments:webhook",
    "accounts:logout",
    "admin:logout",
}  # POST-only or side effects
PAGES = sorted(
    {name for name in _pages() if name not in SKIP and not name.startswith("admin:")}
)


@pytest.fixture
def staff(admin_user, customer):
    order = place_order(customer=customer, variants={VariantFactory(stock=3): 1})
    return admin_user, order


@hyp_settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(query=st.dictionaries(st.sampled_from(PARAMS), HOSTILE, max_size=4))
@example(query={"q": "\x00", "user": "\x00", "event_type": "\x00"})
@example(query={"target": "\x00", "category": "\x00", "status": "\x00"})
@example(query={"target": "orders.order:\x00", "sort": "\x00", "page": "\x00"})
def test_no_query_string_makes_a_page_fail(client, staff, query):
    admin, order = staff
    client.force_login(admin)
    urls = [reverse(name) for name in PAGES] + [
        reverse("ops:order_detail", args=[order.number]),
        reverse("orders:order_detail", args=[order.number]),
    ]
    for url in urls:
        response = client.get(url, query)
        assert response.status_code < 500, (url, query)


@hyp_settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(amount=HOSTILE, key=st.text(max_size=80))
@example(amount="\x00", key="\x00")
def test_no_refund_input_makes_the_form_fail(client, staff, ops_user, amount, key):
    _, order = staff
    client.force_login(ops_user)
    response = client.post(
        reverse("payments_ops:refund", args=[order.number]),
        {"idempotency_key": key, "amount": amount, "reason": amount},
    )
    assert response.status_code < 500, (amount, key)
