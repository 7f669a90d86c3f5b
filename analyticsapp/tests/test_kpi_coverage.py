"""Every number a dashboard shows can be checked from an export in the contract.

Each KPI card, chart, table and counted list on a dashboard carries (or sits inside
an element carrying) `data-kpi="export.column ..."`, optionally `export.column[kpi]`
for the long-format summaries (kpi_summary, mrr_summary). The test renders every
dashboard with data, and fails when such an element has no mapping or names an
export, column or KPI the contract does not have."""

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from analyticsapp.tests.test_exports_kpis import AS_OF, seed_snapshots
from orders.tests.factories import place_order

pytestmark = pytest.mark.django_db
CONTRACT = json.loads(
    (Path(settings.BASE_DIR) / "docs" / "contracts" / "kpi_contract.json").read_text()
)
DASHBOARDS = [
    "dashboard",
    "customers",
    "products",
    "ops",
    "subscriptions",
    "reconciliation",
]
# What shows numbers on a dashboard: (tag, class or None for any).
NUMBER_HOLDERS = [
    ("div", "stat"),
    ("figure", "chart"),
    ("svg", "heatmap"),
    ("table", None),
    ("ul", "plain-list"),
]
VOID = {"area", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}
TOKEN = re.compile(r"^(?P<export>[a-z_]+)\.(?P<column>[a-z_]+)(\[(?P<kpi>[a-z_]+)\])?$")


class _Holders(HTMLParser):
    """Each number holder in the page with the data-kpi tokens that cover it."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, list[str]]] = []
        self.found: list[tuple[str, list[str]]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        own = (attrs.get("data-kpi") or "").split()
        inherited = self.stack[-1][1] if self.stack else []
        tokens = own or inherited
        classes = (attrs.get("class") or "").split()
        for holder_tag, holder_class in NUMBER_HOLDERS:
            if tag == holder_tag and (holder_class is None or holder_class in classes):
                label = attrs.get("aria-label") or " ".join(classes) or tag
                self.found.append((f"<{tag}> {label}", tokens))
        if tag not in VOID:
            self.stack.append((tag, tokens))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                return


def unmapped(html: str) -> list[str]:
    """The problems of one page: holders without a mapping, tokens the contract
    does not know."""
    parser = _Holders()
    parser.feed(html)
    problems = []
    for where, tokens in parser.found:
        if not tokens:
            problems.append(f"{where}: no data-kpi mapping to an export column")
        for token in tokens:
            problem = _token_problem(token)
            if problem:
                problems.append(f"{where}: {token}: {problem}")
    return problems


def _token_problem(token: str) -> str | None:
    match = TOKEN.match(token)
    if not match:
        return "not export.column or export.column[kpi]"
    spec = CONTRACT["exports"].get(match["export"])
    if spec is None:
        return "no such export in the contract"
    if match["column"] not in spec["columns"]:
        return "no such column in the contract"
    if match["kpi"] and match["kpi"] not in spec.get("kpis", []):
        return "no such KPI among the export's rows"
    if not match["kpi"] and "kpis" in spec and match["column"] != "kpi":
        return "a summary column needs its KPI: export.column[kpi]"
    return None


@pytest.fixture
def shop_with_orders(settings, customer):
    settings.REPORTING_TIMEZONE = "Europe/London"
    shop = seed_snapshots()
    place_order(customer=customer, variants={shop["red"]: 1})
    return shop


def _numbers_shown(html: str) -> int:
    parser = _Holders()
    parser.feed(html)
    return len(parser.found)


@pytest.mark.parametrize("page", DASHBOARDS)
def test_every_number_on_each_dashboard_maps_to_a_contract_column(
    client, admin_user, shop_with_orders, page
):
    client.force_login(admin_user)
    response = client.get(
        reverse(f"analyticsapp:{page}"),
        {"as_of": AS_OF.isoformat(), "date_from": "2026-01-01"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert _numbers_shown(html) >= 2, "the page rendered without its data"
    assert unmapped(html) == []


def test_the_cards_this_issue_named_are_exported():
    """Cohort retention, best sellers, stock cover, ARPU, churn rates, LTV and quick
    ratio: each is a contract column (and row) of an export."""
    for token in [
        "cohorts.retention_rate",
        "best_sellers.units",
        "best_sellers.product_units",
        "best_sellers.variant_label",
        "wishlist_conversion.converted",
        "stock_cover.cover_days",
        "mrr_summary.value[arpu_pennies]",
        "mrr_summary.value[customer_churn_rate]",
        "mrr_summary.value[gross_mrr_churn_rate]",
        "mrr_summary.value[net_mrr_churn_rate]",
        "mrr_summary.value[ltv_pennies]",
        "mrr_summary.value[quick_ratio]",
        "kpi_summary.value[wishlist_conversion]",
    ]:
        assert _token_problem(token) is None, token


@pytest.mark.parametrize(
    ("html", "problem"),
    [
        ('<div class="stat"><span class="stat-value">£5</span></div>', "no data-kpi"),
        ('<section><table><tr><td class="num">5</td></tr></table></section>',
         "no data-kpi"),
        ('<div data-kpi="orders.total_pennies"><figure class="chart"></figure></div>'
         '<figure class="chart"></figure>', "no data-kpi"),
        ('<div class="stat" data-kpi="best_sellers.margin"></div>', "no such column"),
        ('<div class="stat" data-kpi="margins.value"></div>', "no such export"),
        ('<div class="stat" data-kpi="mrr_summary.value[magic]"></div>', "no such KPI"),
        ('<div class="stat" data-kpi="mrr_summary.value"></div>', "needs its KPI"),
        ('<ul class="plain-list"><li>3</li></ul>', "no data-kpi"),
    ],
)  # fmt: skip
def test_a_card_without_an_export_column_fails_the_check(html, problem):
    problems = unmapped(html)
    assert problems and problem in problems[-1]


def test_a_mapped_card_inside_a_mapped_section_passes():
    html = (
        '<section data-kpi="cohorts.retention_rate"><svg class="heatmap"></svg>'
        '<div class="stat" data-kpi="kpi_summary.value[aov_pennies]"><br></div>'
        "</section>"
    )
    assert unmapped(html) == []
