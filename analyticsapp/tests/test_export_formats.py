"""Every export as .xlsx and .parquet: the same rows as its CSV, typed as the
contract (docs/contracts/kpi_contract.json: "types", "formats") says, streamed and
audited like the CSV, never a formula in a workbook."""

import csv
import datetime as dt
import hashlib
import html
import io
import json
import re
import tracemalloc
import zipfile
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from openpyxl import load_workbook

from accounts.tests.factories import UserFactory
from analyticsapp.export_formats import (
    FORMATS,
    KPI_VALUE,
    MONEY,
    ROW_GROUP,
    column_types,
    export_format,
    file_chunks,
    major_column,
    money_format,
    parquet_columns,
)
from analyticsapp.exports import (
    DIM_DATE,
    EXPORTS,
    Export,
    Filters,
    csv_chunks,
)
from analyticsapp.formulas import looks_like_formula, neutralise
from audit.models import AuditLog
from catalog.tests.factories import VariantFactory
from core.money import to_major
from orders.tests.factories import place_order

pytestmark = pytest.mark.django_db
CONTRACT = json.loads(
    (Path(settings.BASE_DIR) / "docs" / "contracts" / "kpi_contract.json").read_text()
)
XLSX_TYPES = CONTRACT["formats"]["xlsx"]["types"]
PARQUET_TYPES = CONTRACT["formats"]["parquet"]["types"]
HOSTILE = ["=cmd|' /C calc'!A0", "+SUM(A1)", "-2+3", "@cmd", "\tTAB", "\rCR", "=1+1"]


def _csv(export) -> list[list[str]]:
    data = b"".join(csv_chunks(export, Filters(), {}))
    return list(csv.reader(io.StringIO(data.decode("utf-8"))))


def _file(export, fmt) -> bytes:
    return b"".join(file_chunks(export, Filters(), {}, fmt))


def _lf(text: str) -> str:
    """A workbook's line ends (the contract's "text")."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _unneutralised(text: str) -> str:
    """The CSV cell without the ' that neutralise put before a formula."""
    if text.startswith("'") and looks_like_formula(text[1:]):
        return text[1:]
    return text


def _generic(kind: str) -> str:
    return "decimal(p,s)" if kind.startswith("decimal(") else kind


def _parquet_type(kind: str) -> str:
    """The contract's pyarrow type of a column type."""
    if kind.startswith("decimal("):
        precision, scale = re.fullmatch(r"decimal\((\d+),(\d+)\)", kind).groups()
        return f"decimal128({precision}, {scale})"
    return PARQUET_TYPES[kind]


def _currency(export, csv_row) -> str:
    if "currency" in export.columns:
        return (csv_row[export.columns.index("currency")] or "GBP").upper()
    return settings.STORE_CURRENCY


def _is_money(export, kind, csv_row) -> bool:
    if kind == MONEY:
        return True
    return kind == KPI_VALUE and csv_row[export.columns.index("kpi")].endswith(
        "_pennies"
    )


def assert_xlsx_is_the_csv(export, data: bytes, rows: list[list[str]]):
    sheet = load_workbook(io.BytesIO(data))[export.name[:31]]
    assert sheet.freeze_panes == "A2"
    header, *cells = list(sheet.iter_rows())
    assert [c.value for c in header] == rows[0] == export.columns
    assert all(c.font.b and c.data_type == "s" for c in header)
    assert len(cells) == len(rows) - 1, export.name
    types = column_types(export)
    for csv_row, xlsx_row in zip(rows[1:], cells, strict=True):
        for (column, kind), text, cell in zip(
            types.items(), csv_row, xlsx_row, strict=False
        ):
            where = (export.name, column, text)
            if text == "":
                assert cell.value is None, where
                continue
            spec = XLSX_TYPES[_generic(kind)]
            assert cell.data_type == spec["data_type"], where
            value = cell.value
            if _is_money(export, kind, csv_row):
                currency = _currency(export, csv_row)
                assert Decimal(str(value)) == to_major(int(text), currency), where
                assert cell.number_format == money_format(currency), where
            elif kind == "string":
                assert value == _lf(_unneutralised(text)), where
            elif kind == "integer":
                assert isinstance(value, int) and value == int(text), where
            elif kind == "boolean":
                assert value is (text == "True"), where
            elif kind == "date":
                assert value.date() == dt.date.fromisoformat(text), where
                assert cell.number_format == spec["number_format"], where
            elif kind == "timestamp":
                moment = dt.datetime.fromisoformat(text).replace(tzinfo=None)
                assert abs(value - moment) <= dt.timedelta(milliseconds=1), where
                assert cell.number_format == spec["number_format"], where
            else:  # decimal(p,s), or a count or ratio of a KPI summary
                assert Decimal(str(value)) == Decimal(text), where


def assert_parquet_is_the_csv(export, data: bytes, rows: list[list[str]]):
    table = pq.read_table(io.BytesIO(data))
    types = column_types(export)
    names = parquet_columns(export)
    assert table.column_names == names == [*rows[0], *names[len(rows[0]) :]]
    for column, kind in types.items():
        assert str(table.schema.field(column).type) == _parquet_type(kind), column
        if kind == MONEY:
            twin = table.schema.field(major_column(column)).type
            assert str(twin) == PARQUET_TYPES["money_major"], column
    assert table.num_rows == len(rows) - 1, export.name
    for csv_row, record in zip(rows[1:], table.to_pylist(), strict=True):
        for (column, kind), text in zip(types.items(), csv_row, strict=True):
            value = record[column]
            where = (export.name, column, text)
            if text == "":
                # The CSV writes NULL and '' alike; Parquet keeps them apart.
                assert value is None or (kind == "string" and value == ""), where
                if kind == MONEY:
                    assert record[major_column(column)] is None, where
            elif kind == MONEY:
                currency = _currency(export, csv_row)
                assert value == int(text), where
                assert record[major_column(column)] == to_major(value, currency)
            elif kind in ("timestamp", "string"):
                assert neutralise(value) == text, where  # ISO 8601 Z; no ' prefix
            elif kind == "date":
                assert value.isoformat() == text, where
            elif kind in ("integer", "boolean"):
                assert str(value) == text, where
            else:
                assert value == Decimal(text), where


@pytest.mark.django_db(transaction=True)
def test_every_export_in_xlsx_and_parquet_is_its_csv_typed_as_the_contract():
    call_command("seed_demo", "--customers", "8", "--days", "30")
    for text in HOSTILE:
        UserFactory(roles=["customer"], full_name=text)
    filled = set()
    for export in [*EXPORTS.values(), DIM_DATE]:
        rows = _csv(export)
        if len(rows) > 1:
            filled.add(export.name)
        assert_xlsx_is_the_csv(export, _file(export, "xlsx"), rows)
        assert_parquet_is_the_csv(export, _file(export, "parquet"), rows)
    # The demo shop fills nearly every export: the comparisons above saw real rows.
    assert {"orders", "payments", "refunds", "customers", "daily_kpis"} <= filled
    assert {"kpi_summary", "subscriptions", "balance_transactions"} <= filled


def test_the_contract_types_every_column_of_every_export():
    assert set(CONTRACT["formats"]) == set(FORMATS)
    for name, export in EXPORTS.items():
        spec = CONTRACT["exports"][name]
        assert spec["types"] == column_types(export), name
        assert list(spec["types"]) == spec["columns"], name
        assert spec["parquet_columns"] == parquet_columns(export), name
        assert spec["downloads"]["xlsx"] == f"{spec['url']}?format=xlsx"
        kinds = {_generic(kind) for kind in spec["types"].values()}
        assert kinds <= set(CONTRACT["types"]) & set(XLSX_TYPES), name
        assert kinds <= set(PARQUET_TYPES), name
    dim_date = CONTRACT["bi_pack"]["files"]["dim_date"]
    assert dim_date["types"] == column_types(DIM_DATE)
    for fmt, spec in CONTRACT["formats"].items():
        assert spec["content_type"] == FORMATS[fmt].content_type
        assert spec["extension"] == FORMATS[fmt].extension


def test_no_text_is_ever_a_formula_in_a_workbook():
    """openpyxl writes a text starting with = as a formula unless told otherwise."""
    export = Export(
        "hostile", "Hostile", ["text"], lambda f: ((t,) for t in HOSTILE),
        types=("string",),
    )  # fmt: skip
    data = _file(export, "xlsx")
    sheet = load_workbook(io.BytesIO(data))["hostile"]
    cells = [row[0] for row in sheet.iter_rows(min_row=2)]
    assert [c.value for c in cells] == [_lf(t) for t in HOSTILE]
    assert all(c.data_type == "s" and c.quotePrefix for c in cells)
    xml = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml")
    assert b"<f>" not in xml and b"<f " not in xml


def test_money_is_in_the_rows_currency_in_both_files():
    export = Export(
        "amounts", "Amounts", ["amount_pennies", "currency", "note"],
        lambda f: iter([(123456, "GBP", "a"), (-250, "eur", "b"), (500, "JPY", None),
                        (None, "USD", "d")]),
        types=("money", "string", "string"),
    )  # fmt: skip
    sheet = load_workbook(io.BytesIO(_file(export, "xlsx")))["amounts"]
    cells = [row[0] for row in sheet.iter_rows(min_row=2)]
    assert [c.value for c in cells] == [1234.56, -2.5, 500, None]
    assert [c.number_format for c in cells[:3]] == [
        '"£"#,##0.00', '"€"#,##0.00', '#,##0 "JPY"',
    ]  # fmt: skip
    table = pq.read_table(io.BytesIO(_file(export, "parquet")))
    assert table.column("amount_pennies").to_pylist() == [123456, -250, 500, None]
    assert table.column("amount_major").to_pylist() == [
        Decimal("1234.56"), Decimal("-2.50"), Decimal("500.00"), None,
    ]  # fmt: skip


def test_large_exports_are_written_in_bounded_memory():
    """A write-only workbook and Parquet row groups: 30,000 rows never sit in
    memory as cells (a normal workbook would hold every cell object)."""
    count = 3 * ROW_GROUP
    export = Export(
        "many", "Many", ["n", "label", "amount_pennies"],
        lambda f: ((i, f"row {i}", i * 7) for i in range(count)),
        types=("integer", "string", "money"),
    )  # fmt: skip
    for fmt in ("xlsx", "parquet"):
        _file(
            Export("warm", "Warm", ["n"], lambda f: iter([(1,)]), types=("integer",)),
            fmt,
        )
        tally: dict = {}
        tracemalloc.start()
        size = sum(len(chunk) for chunk in file_chunks(export, Filters(), tally, fmt))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert tally["rows"] == count and tally["complete"], fmt
        # About 0.5 MB (xlsx) and 3 MB (one row group) here; 26 MB as a workbook
        # that holds its cells.
        assert peak < 6_000_000, f"{fmt}: peak {peak} bytes for {size} bytes"
    data = _file(export, "parquet")
    assert pq.ParquetFile(io.BytesIO(data)).metadata.num_row_groups == 3


@pytest.mark.parametrize("fmt", ["xlsx", "parquet"])
def test_a_download_in_another_format_is_streamed_and_audited(
    client, analyst, customer, fmt
):
    place_order(customer=customer, variants={VariantFactory(stock=3): 1})
    client.force_login(analyst)
    url = reverse("analyticsapp:export_download", args=["orders"])
    response = client.get(url, {"format": fmt})
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == FORMATS[fmt].content_type
    assert response["Content-Disposition"] == (
        f'attachment; filename="purelaka-orders.{fmt}"'
    )
    data = b"".join(response.streaming_content)
    row = AuditLog.objects.get(event_type="analytics.export")
    assert (row.actor, row.target_id) == (analyst, "orders")
    assert row.metadata["format"] == fmt
    assert row.metadata["rows"] == 1 and row.metadata["complete"] is True
    assert row.metadata["sha256"] == hashlib.sha256(data).hexdigest()
    rows = _csv(EXPORTS["orders"])
    if fmt == "xlsx":
        assert_xlsx_is_the_csv(EXPORTS["orders"], data, rows)
    else:
        assert_parquet_is_the_csv(EXPORTS["orders"], data, rows)


def test_csv_stays_the_default_and_an_unknown_format_is_a_400(client, analyst):
    client.force_login(analyst)
    url = reverse("analyticsapp:export_download", args=["payments"])
    response = client.get(url)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    b"".join(response.streaming_content)
    audited = AuditLog.objects.filter(event_type="analytics.export")
    assert audited.get().metadata["format"] == "csv"
    bad = client.get(url, {"format": "pdf"})
    assert bad.status_code == 400
    assert "Unknown export format 'pdf'" in html.unescape(bad.content.decode())
    assert audited.count() == 1  # a refused download is not one


def test_the_bi_pack_in_parquet_holds_each_table_as_the_manifest_says(
    client, analyst, customer
):
    place_order(customer=customer, variants={VariantFactory(stock=3): 1})
    client.force_login(analyst)
    url = reverse("analyticsapp:export_bi_pack")
    response = client.get(url, {"format": "parquet"})
    assert response.status_code == 200
    assert "purelaka-bi-pack-parquet.zip" in response["Content-Disposition"]
    data = b"".join(response.streaming_content)
    archive = zipfile.ZipFile(io.BytesIO(data))
    expected = {f"{t}.parquet" for t in CONTRACT["bi_pack"]["files"]}
    assert set(archive.namelist()) == expected | {"manifest.json"}
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["format"] == "parquet"
    for table, spec in manifest["tables"].items():
        parquet = pq.read_table(io.BytesIO(archive.read(spec["file"])))
        assert parquet.column_names == spec["columns"], table
        assert list(spec["types"]) == spec["columns"][: len(spec["types"])], table
    lines = pq.read_table(io.BytesIO(archive.read("fact_order_lines.parquet")))
    assert lines.num_rows == 1
    row = AuditLog.objects.get(event_type="analytics.export", target_id="bi_pack")
    assert row.metadata["format"] == "parquet"
    assert row.metadata["sha256"] == hashlib.sha256(data).hexdigest()
    refused = client.get(url, {"format": "xlsx"})
    assert refused.status_code == 400 and "choose csv, parquet" in (
        refused.content.decode()
    )


def test_the_command_writes_each_format_and_refuses_an_unknown_one(tmp_path, customer):
    place_order(customer=customer, variants={VariantFactory(stock=3): 1})
    rows = _csv(EXPORTS["orders"])
    for command in ("export_csv", "export"):
        xlsx, parquet = tmp_path / f"{command}.xlsx", tmp_path / f"{command}.parquet"
        call_command(command, "orders", "--format", "xlsx", "--out", str(xlsx))
        call_command(command, "orders", "--format", "parquet", "--out", str(parquet))
        assert_xlsx_is_the_csv(EXPORTS["orders"], xlsx.read_bytes(), rows)
        assert_parquet_is_the_csv(EXPORTS["orders"], parquet.read_bytes(), rows)
    audited = AuditLog.objects.filter(event_type="analytics.export")
    assert sorted(audited.values_list("metadata__format", flat=True)) == [
        "parquet", "parquet", "xlsx", "xlsx",
    ]  # fmt: skip
    pack = tmp_path / "pack.zip"
    call_command("export_csv", "bi_pack", "--format", "parquet", "--out", str(pack))
    assert "dim_date.parquet" in zipfile.ZipFile(pack).namelist()
    with pytest.raises(CommandError, match=r"^Unknown export format 'pdf'"):
        call_command("export_csv", "orders", "--format", "pdf")
    with pytest.raises(CommandError, match="choose csv, parquet"):
        call_command("export", "bi_pack", "--format", "xlsx", "--out", str(pack))


def test_export_format_defaults_to_csv():
    assert export_format(None).name == export_format("").name == "csv"


def test_the_exports_page_links_each_export_in_every_format(client, analyst):
    client.force_login(analyst)
    page = client.get(
        reverse("analyticsapp:exports"), {"date_to": "2026-01-31"}
    ).content.decode()
    for name in EXPORTS:
        url = reverse("analyticsapp:export_download", args=[name])
        for fmt in ("xlsx", "parquet"):
            assert f'href="{url}?format={fmt}&amp;date_to=2026-01-31"' in page
    assert "bi-pack.zip?format=parquet" in page
