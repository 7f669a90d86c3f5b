"""The exports of the KPIs the dashboards show: cohorts, best sellers, wishlist
conversion, stock cover, subscription KPIs, restatements, payment exceptions."""

import csv
import datetime as dt
import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from accounts.tests.factories import UserFactory
from analyticsapp import exports, kpis
from analyticsapp.exports import EXPORTS, Filters, csv_chunks
from analyticsapp.kpis import Window
from analyticsapp.models import (
    CustomerDailySnapshot,
    DailySnapshot,
    MrrDailySnapshot,
    ProductDailySnapshot,
    Restatement,
    SnapshotRun,
    WishlistDailySnapshot,
)
from analyticsapp.tests.test_exports import _python_bytes
from audit.models import AuditLog
from catalog.tests.factories import ProductFactory, VariantFactory
from payments.models import PaymentException

pytestmark = pytest.mark.django_db
CONTRACT = json.loads(
    (Path(settings.BASE_DIR) / "docs" / "contracts" / "kpi_contract.json").read_text()
)
AS_OF = dt.date(2026, 3, 31)
NEW_EXPORTS = [
    "cohorts",
    "best_sellers",
    "wishlist_conversion",
    "stock_cover",
    "mrr_summary",
    "restatements",
    "payment_exceptions",
]


def seed_snapshots(*, as_of: dt.date = AS_OF) -> dict:
    """Snapshot rows with hand-countable answers, ending on as_of (31 Mar 2026).

    Customers a, b (first paid in January) and c (February); a pays again in
    February and March, b in March. Mug (two variants) and Jug sell in March; Jug
    is out of stock and wished for. MRR: 10,000 at the start of March, one customer
    of two churns 2,000 in March."""
    a, b, c = (UserFactory(roles=["customer"]) for _ in range(3))
    mug = ProductFactory(name="Mug", price_pennies=1000)
    red = VariantFactory(product=mug, sku="MUG-R", stock=12, option_values={"c": "Red"})
    blue = VariantFactory(
        product=mug, sku="MUG-B", stock=3, option_values={"c": "Blue"}
    )
    jug = VariantFactory(
        product=ProductFactory(name="Jug", price_pennies=4000),
        sku="JUG",
        stock=0,
        option_values={},
    )
    now = timezone.now()
    days = [dt.date(2026, 1, 1) + dt.timedelta(days=i) for i in range(90)]
    visits = [
        (a, dt.date(2026, 1, 5), 1, dt.date(2026, 1, 5)),
        (b, dt.date(2026, 1, 20), 1, dt.date(2026, 1, 20)),
        (c, dt.date(2026, 2, 2), 1, dt.date(2026, 2, 2)),
        (a, dt.date(2026, 2, 10), 2, dt.date(2026, 1, 5)),
        (a, dt.date(2026, 3, 3), 3, dt.date(2026, 1, 5)),
        (a, dt.date(2026, 3, 4), 4, dt.date(2026, 1, 5)),  # twice in March: once
        (b, dt.date(2026, 3, 9), 2, dt.date(2026, 1, 20)),
    ]
    CustomerDailySnapshot.objects.bulk_create(
        CustomerDailySnapshot(
            day=day, customer=who, paid_orders=1, revenue_pennies=100,
            lifetime_paid_orders=lifetime, first_paid_day=first,
        )
        for who, day, lifetime, first in visits
    )  # fmt: skip
    # As the build makes them: a day's paid-order revenue is its customer rows'.
    visit_days = {day for _, day, _, _ in visits}
    DailySnapshot.objects.bulk_create(
        DailySnapshot(
            day=d, gross_revenue_pennies=100, order_revenue_pennies=100,
            net_revenue_pennies=100, paid_orders=1, units_sold=1, customers=1,
            paid_order_revenue_pennies=100 if d in visit_days else 0,
            built_at=now,
        )
        for d in days
    )  # fmt: skip
    ProductDailySnapshot.objects.bulk_create(
        [
            ProductDailySnapshot(
                day=dt.date(2026, 3, 10), product=mug, variant=red, units=5,
                revenue_pennies=5000,
            ),
            ProductDailySnapshot(
                day=dt.date(2026, 3, 11), product=mug, variant=blue, units=1,
                revenue_pennies=1000,
            ),
            ProductDailySnapshot(
                day=dt.date(2026, 3, 12), product=jug.product, variant=jug, units=4,
                revenue_pennies=16000,
            ),
        ]
    )  # fmt: skip
    WishlistDailySnapshot.objects.bulk_create(
        [
            WishlistDailySnapshot(
                day=dt.date(2026, 3, 20), product=jug.product, adds=3, converted=1
            ),
            WishlistDailySnapshot(day=dt.date(2026, 3, 21), product=mug, adds=1,
                                  converted=0),
        ]
    )  # fmt: skip
    MrrDailySnapshot.objects.bulk_create(
        [
            MrrDailySnapshot(day=dt.date(2026, 1, 31), mrr_pennies=10000,
                             active_subscriptions=2, paying_customers=2,
                             new_pennies=10000, net_new_pennies=10000,
                             new_customers=2),
            MrrDailySnapshot(day=dt.date(2026, 3, 1), mrr_pennies=10000,
                             active_subscriptions=2, paying_customers=2),
            MrrDailySnapshot(day=dt.date(2026, 3, 15), mrr_pennies=8000,
                             active_subscriptions=1, paying_customers=1,
                             churn_pennies=2000, net_new_pennies=-2000,
                             churned_customers=1),
            MrrDailySnapshot(day=as_of, mrr_pennies=8000, active_subscriptions=1,
                             paying_customers=1),
        ]
    )  # fmt: skip
    run = SnapshotRun.objects.create(
        date_from=dt.date(2026, 3, 1), date_to=as_of, triggered_by="test"
    )
    Restatement.objects.create(
        run=run, day=dt.date(2026, 3, 2), metric="refunds_pennies", old_value=0,
        new_value=500,
    )  # fmt: skip
    case = PaymentException.objects.create(
        kind=PaymentException.Kind.DISPUTE, stripe_ref="dp_1", message="Opened"
    )
    PaymentException.objects.filter(pk=case.pk).update(
        created_at=dt.datetime(2026, 3, 5, 12, tzinfo=dt.UTC)
    )
    return {"customers": (a, b, c), "red": red, "blue": blue, "jug": jug}


@pytest.fixture
def shop(settings):
    settings.REPORTING_TIMEZONE = "Europe/London"
    return seed_snapshots()


def _rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"))))


def _export(name, **filters) -> list[dict]:
    data = b"".join(csv_chunks(EXPORTS[name], Filters(**filters), {}))
    header, *rows = _rows(data)
    assert header == CONTRACT["exports"][name]["columns"]
    return [dict(zip(header, row, strict=True)) for row in rows]


def _cell(value) -> str:
    return "" if value is None else str(value)


def test_the_contract_lists_each_new_export_with_its_range_and_the_bi_pack():
    assert CONTRACT["contract_version"] == "1.3"  # xlsx and Parquet; definitions 1.2
    for name in NEW_EXPORTS:
        spec = CONTRACT["exports"][name]
        assert spec["columns"] == EXPORTS[name].columns, name
        assert spec["url"] == f"/analytics/exports/{name}.csv"
        assert spec["rows"], name
    for name, export in EXPORTS.items():
        assert (CONTRACT["exports"][name]["range"] == "as_of") == export.as_of, name
    assert CONTRACT["exports"]["kpi_summary"]["kpis"] == exports.SUMMARY_KPIS
    assert CONTRACT["exports"]["mrr_summary"]["kpis"] == exports.MRR_SUMMARY_KPIS
    pack = CONTRACT["bi_pack"]
    assert pack["relations"] == exports.BI_MANIFEST
    assert {
        table: spec["source_export"]
        for table, spec in pack["files"].items()
        if "source_export" in spec
    } == exports.BI_TABLES
    assert {
        "wishlist_conversion", "best_sellers", "stock_cover", "cohorts", "mrr_summary"
    } <= set(exports.BI_TABLES.values())  # fmt: skip


def test_cohorts_are_the_dashboards_retention_grid_counted_in_one_query(shop):
    with CaptureQueriesContext(connection) as queries:
        rows = _export("cohorts", date_to=AS_OF)
    with_queries = [q["sql"] for q in queries.captured_queries]
    assert len(with_queries) == 1 and "GROUP BY" in with_queries[0]
    grid = {(r["cohort_month"], int(r["months_since_first"])): r for r in rows}
    january = [grid["2026-01-01", k] for k in range(3)]
    assert [r["cohort_size"] for r in january] == ["2", "2", "2"]
    assert [r["active_customers"] for r in january] == ["2", "1", "2"]
    assert [r["retention_rate"] for r in january] == ["1.0000", "0.5000", "1.0000"]
    # Months after as_of have not happened: no row, rather than a 0 % share.
    assert ("2026-01-01", 3) not in grid and ("2026-02-01", 2) not in grid
    assert grid["2026-02-01", 1]["retention_rate"] == "0.0000"
    assert {r["as_of"] for r in rows} == {"2026-03-31"}
    for cohort in kpis.cohort_retention(as_of=AS_OF):
        month = cohort["month"].isoformat()
        for k, share in enumerate(cohort["shares"]):
            if (month, k) in grid:
                row = grid[month, k]
                assert row["retention_rate"] == _cell(share), (month, k)
                assert row["cohort_size"] == str(cohort["size"])
            else:
                assert not share, (month, k)  # not yet happened


def test_best_sellers_by_variant_and_product_with_names_and_labels(shop):
    rows = _export("best_sellers", date_from=dt.date(2026, 3, 1), date_to=AS_OF)
    got = [
        (r["variant_rank"], r["sku"], r["variant_label"], r["product_name"],
         r["units"], r["revenue_pennies"], r["product_rank"], r["product_units"],
         r["product_revenue_pennies"])
        for r in rows
    ]  # fmt: skip
    assert got == [
        ("1", "MUG-R", "Red", "Mug", "5", "5000", "1", "6", "6000"),
        ("2", "JUG", "", "Jug", "4", "16000", "2", "4", "16000"),
        ("3", "MUG-B", "Blue", "Mug", "1", "1000", "1", "6", "6000"),
    ]
    assert {(r["window_start"], r["window_end"]) for r in rows} == {
        ("2026-03-01", "2026-03-31")
    }
    # The dashboard's table is the first rows of the export.
    window = Window(dt.date(2026, 3, 1), AS_OF)
    assert [s["variant__sku"] for s in kpis.best_sellers(window)] == [
        r["sku"] for r in rows
    ]
    default = _export("best_sellers", date_to=AS_OF)  # the 30 days to as_of
    assert default[0]["window_start"] == "2026-03-02"


def test_stock_cover_is_the_dashboards_table_with_every_variant_sold(shop):
    rows = _export("stock_cover", date_to=AS_OF)
    got = [
        (r["sku"], r["stock_on_hand"], r["units_sold"], r["units_per_day"],
         r["cover_days"])
        for r in rows
    ]  # fmt: skip
    assert got == [
        ("JUG", "0", "4", "0.13", "0.0"),
        ("MUG-R", "12", "5", "0.17", "72.0"),
        ("MUG-B", "3", "1", "0.03", "90.0"),
    ]
    screen = kpis.stock_cover(as_of=AS_OF)
    assert [str(r["cover_days"]) for r in screen] == [r["cover_days"] for r in rows]
    assert (rows[0]["variant_label"], rows[1]["variant_label"]) == ("", "Red")
    assert {(r["window_start"], r["window_end"]) for r in rows} == {
        ("2026-03-02", "2026-03-31")
    }


def test_wishlist_conversion_rows_sum_to_the_window_kpi(shop):
    rows = _export("wishlist_conversion", date_from=dt.date(2026, 3, 1), date_to=AS_OF)
    assert [(r["day"], r["product_name"], r["adds"], r["converted"]) for r in rows] == [
        ("2026-03-20", "Jug", "3", "1"),
        ("2026-03-21", "Mug", "1", "0"),
    ]
    adds = sum(int(r["adds"]) for r in rows)
    converted = sum(int(r["converted"]) for r in rows)
    window = kpis.kpis_for(Window(dt.date(2026, 3, 1), AS_OF))
    assert kpis.ratio(converted, adds) == window["wishlist_conversion"]


def test_mrr_summary_is_the_subscriptions_cards_with_the_previous_window(shop):
    rows = _export("mrr_summary", date_to=AS_OF)
    assert {r["kpi_definitions_version"] for r in rows} == {
        kpis.KPI_DEFINITIONS_VERSION
    }
    by_key = {(int(r["window_days"]), r["kpi"]): r for r in rows}
    assert len(rows) == 3 * len(exports.MRR_SUMMARY_KPIS)
    for days in kpis.WINDOWS:
        window = Window.ending(AS_OF, days)
        current = kpis.mrr_summary(window)
        previous = kpis.mrr_summary(window.previous())
        for kpi in exports.MRR_SUMMARY_KPIS:
            row = by_key[days, kpi]
            assert (row["window_start"], row["window_end"]) == (
                window.start.isoformat(), window.end.isoformat()
            )  # fmt: skip
            assert row["value"] == _cell(current[kpi]), (days, kpi)
            assert row["previous_value"] == _cell(previous[kpi]), (days, kpi)
    month = by_key[30, "customer_churn_rate"]
    assert (month["value"], by_key[30, "churn_pennies"]["value"]) == ("0.5000", "2000")
    assert by_key[30, "arpu_pennies"]["value"] == "8000"
    # Nothing lost before March: a quick ratio does not apply, an empty cell.
    assert by_key[30, "quick_ratio"]["previous_value"] == ""
    assert by_key[30, "quick_ratio"]["change"] == ""


def test_a_kpi_that_does_not_apply_is_an_empty_cell_never_zero(shop):
    """A window with nobody paying at its start: every rate over it is blank."""
    rows = _export("mrr_summary", date_to=dt.date(2026, 1, 10))
    by_key = {(int(r["window_days"]), r["kpi"]): r for r in rows}
    for kpi in ("customer_churn_rate", "gross_mrr_churn_rate", "ltv_pennies"):
        assert by_key[7, kpi]["value"] == "", kpi
        assert by_key[7, kpi]["change"] == "", kpi
    summary = _export("kpi_summary", date_to=dt.date(2025, 6, 30))
    refund_rate = next(
        r for r in summary if r["kpi"] == "refund_rate" and r["window_days"] == "7"
    )
    assert (refund_rate["value"], refund_rate["change"]) == ("", "")


def test_restatements_and_payment_exceptions_are_exported(shop):
    (restated,) = _export("restatements", date_to=AS_OF)
    cells = [restated[c] for c in ("day", "metric", "old_value", "new_value")]
    assert cells == ["2026-03-02", "refunds_pennies", "0", "500"]
    (case,) = _export("payment_exceptions")
    assert (case["kind"], case["stripe_ref"], case["resolved_at"]) == (
        "dispute", "dp_1", ""
    )  # fmt: skip


def test_daily_kpis_carry_the_revenue_of_paid_orders_for_aov(shop):
    rows = {r["day"]: r for r in _export("daily_kpis", date_to=AS_OF)}
    assert rows["2026-03-03"]["paid_order_revenue_pennies"] == "100"
    assert rows["2026-03-05"]["paid_order_revenue_pennies"] == "0"


@pytest.mark.parametrize("name", NEW_EXPORTS)
def test_each_new_export_downloads_audited_with_rows_and_sha256(
    client, analyst, shop, name
):
    client.force_login(analyst)
    response = client.get(
        reverse("analyticsapp:export_download", args=[name]),
        {"date_from": "2026-01-01", "date_to": AS_OF.isoformat()},
    )
    data = b"".join(response.streaming_content)
    row = AuditLog.objects.get(event_type="analytics.export", target_id=name)
    assert row.metadata["rows"] == len(_rows(data)) - 1 > 0
    assert row.metadata["sha256"] == hashlib.sha256(data).hexdigest()
    expected_from = None if EXPORTS[name].as_of else "2026-01-01"
    assert row.metadata["filters"] == {"from": expected_from, "to": "2026-03-31"}


def test_the_command_takes_to_for_as_of_exports_and_refuses_from(tmp_path, shop):
    out = tmp_path / "cohorts.csv"
    call_command("export_csv", "cohorts", "--to", "2026-03-31", "--out", str(out))
    assert _rows(out.read_bytes())[1][0] == "2026-03-31"
    with pytest.raises(CommandError, match="give --to"):
        call_command("export_csv", "stock_cover", "--from", "2026-03-01")
    out = tmp_path / "best.csv"
    call_command(
        "export_csv", "best_sellers", "--from", "2026-03-11", "--to", "2026-03-11",
        "--out", str(out),
    )  # fmt: skip
    assert [r[9] for r in _rows(out.read_bytes())[1:]] == ["MUG-B"]


def test_the_exports_page_lists_every_export_and_bi_pack_table(client, analyst):
    client.force_login(analyst)
    page = client.get(reverse("analyticsapp:exports")).content.decode()
    for name, export in EXPORTS.items():
        assert f"{name}.csv" in page
        assert ", ".join(export.columns) in page
    for table in CONTRACT["bi_pack"]["files"]:
        assert table in page


def test_the_bi_pack_holds_the_new_tables_with_their_rows(client, analyst, shop):
    client.force_login(analyst)
    response = client.get(
        reverse("analyticsapp:export_bi_pack"), {"date_to": AS_OF.isoformat()}
    )
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    manifest = json.loads(archive.read("manifest.json"))
    for table, source in exports.BI_TABLES.items():
        header, *rows = _rows(archive.read(f"{table}.csv"))
        assert header == manifest["tables"][table]["columns"] == EXPORTS[source].columns
        if source in NEW_EXPORTS:
            assert rows, table


@pytest.mark.postgres
@hyp_settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    names=st.lists(
        st.text(
            st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
            min_size=1,
            max_size=12,
        ),
        min_size=1,
        max_size=3,
        unique=True,  # one payment exception per (kind, Stripe ref)
    ),
    micros=st.integers(min_value=0, max_value=999_999),
)
def test_copy_writes_the_new_exports_as_python_does_for_hostile_cells(
    db, names, micros
):
    """Product names, metrics and Stripe refs as a spreadsheet attacker writes
    them, and times to the microsecond, through COPY and through Python."""
    with transaction.atomic():
        run = SnapshotRun.objects.create(
            date_from=AS_OF, date_to=AS_OF, triggered_by="test"
        )
        hostile = [n for n in ["=1+1", "-1\n", "+5\r"] if n not in names]
        for i, name in enumerate([*names, *hostile]):
            product = ProductFactory(name=name, slug=f"hostile-{i}")
            WishlistDailySnapshot.objects.create(
                day=AS_OF, product=product, adds=i + 1, converted=i
            )
            Restatement.objects.create(
                run=run, day=AS_OF, metric=name, old_value=-i, new_value=i
            )
            case = PaymentException.objects.create(
                kind=PaymentException.Kind.DISPUTE, stripe_ref=name, message=name
            )
            PaymentException.objects.filter(pk=case.pk).update(
                resolved_at=timezone.now().replace(microsecond=micros)
            )
        for export_name in (
            "wishlist_conversion",
            "restatements",
            "payment_exceptions",
        ):
            export, tally = EXPORTS[export_name], {}
            copied = b"".join(csv_chunks(export, Filters(), tally))
            assert copied == _python_bytes(export, Filters()), export_name
            assert tally["rows"] == len(names) + len(hostile), export_name
        transaction.set_rollback(True)
