"""Runs every row of the table in docs/refund_policy.md."""

import re
from pathlib import Path

import pytest
from django.conf import settings

from catalog.tests.factories import VariantFactory
from orders.services.lifecycle import order_fulfil
from orders.tests.factories import place_order
from payments.tests.events import BASE, intent_succeeded, post, refund_event

pytestmark = pytest.mark.django_db
DOC = Path(settings.BASE_DIR) / "docs" / "refund_policy.md"


def _rows():
    table = re.findall(
        r"^\| (paid|fulfilled) \| ([^|]+) \| (\w+) \| (\w+) \|$", DOC.read_text(), re.M
    )
    assert len(table) >= 6, "the policy table is missing"
    return table


@pytest.mark.parametrize(("before", "refunds", "status", "refund_status"), _rows())
def test_the_policy_table_holds(
    client, customer, before, refunds, status, refund_status
):
    variant = VariantFactory(stock=10)
    order = place_order(customer=customer, variants={variant: 2})  # 3000 + 395
    assert order.total_pennies == 3395
    post(client, intent_succeeded(order))
    if before == "fulfilled":
        order.refresh_from_db()
        order_fulfil(order=order, actor=None)
    failed = refunds.startswith("none")
    fails_later = refunds.endswith("then it fails")
    amounts = [int(a) for a in re.findall(r"\d+", refunds)]
    for i, amount in enumerate(amounts):
        post(
            client,
            refund_event(
                f"re_{i}",
                amount,
                status="failed" if failed else "succeeded",
                created=BASE + 100 * (i + 1),
            ),
        )
        if fails_later:  # Stripe reverses it two days on
            post(
                client,
                refund_event(
                    f"re_{i}",
                    amount,
                    status="failed",
                    created=BASE + 100 * (i + 1),
                    event_created=BASE + 2 * 86400,
                    event_type="refund.failed",
                ),
            )
    order.refresh_from_db()
    assert (order.status, order.refund_status) == (status, refund_status)
    expected = 0 if failed or fails_later else sum(amounts)
    assert order.refunded_pennies == expected
