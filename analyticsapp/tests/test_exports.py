import csv
import datetime as dt
import hashlib
import io
import json
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from accounts.tests.factories import UserFactory
from analyticsapp.exports import (
    EXPORTS,
    Export,
    Filters,
    QueryRows,
    csv_chunks,
)
from analyticsapp.formulas import FORMULA_STARTS, neutralise
from analyticsapp.kpis import KPI_DEFINITIONS_VERSION
from analyticsapp.models import DailySnapshot
from audit.models import AuditLog
from catalog.tests.factories import VariantFactory
from orders.tests.factories import place_order

pytestmark = pytest.mark.django_db
CONTRACT = json.loads(
    (Path(settings.BASE_DIR) / "docs" / "contracts" / "kpi_contract.json").read_text()
)


def _download(client, name, **params):
    response = client.get(reverse("analyticsapp:export_download", args=[name]), params)
    assert response.status_code == 200, response
    return b"".join(response.streaming_content)


def _rows(data: bytes):
    return list(csv.reader(io.StringIO(data.decode("utf-8"))))


def test_the_contract_names_every_export_and_the_definitions_version():
    assert set(CONTRACT["exports"]) == set(EXPORTS)
    assert CONTRACT["kpi_definitions_version"] == KPI_DEFINITIONS_VERSION
    definitions = (Path(settings.BASE_DIR) / "docs" / "kpi_definitions.md").read_text()
    assert f"Version: {KPI_DEFINITIONS_VERSION}" in definitions


@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_every_export_header_is_the_contract(client, analyst, name, customer):
    place_order(customer=customer, variants={VariantFactory(stock=3): 1})
    client.force_login(analyst)
    header = _rows(_download(client, name))[0]
    assert header == CONTRACT["exports"][name]["columns"]


def test_the_bi_pack_holds_its_tables_and_a_manifest(client, analyst, customer):
    place_order(customer=customer, variants={VariantFactory(stock=3): 1})
    client.force_login(analyst)
    response = client.get(reverse("analyticsapp:export_bi_pack"))
    data = b"".join(response.streaming_content)
    archive = zipfile.ZipFile(io.BytesIO(data))
    expected = set(CONTRACT["bi_pack"]["files"]) | {"manifest"}
    assert {Path(n).stem for n in archive.namelist()} == expected
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["kpi_definitions_version"] == KPI_DEFINITIONS_VERSION
    for table, spec in manifest["tables"].items():
        header = _rows(archive.read(spec["file"]))[0]
        assert header == spec["columns"], table
    assert manifest["tables"]["fact_order_lines"]["relations"]["variant_id"] == (
        "dim_product.variant_id"
    )
    row = AuditLog.objects.get(event_type="analytics.export", target_id="bi_pack")
    assert row.metadata["sha256"] == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    ("raw", "cell"),
    [
        ('=HYPERLINK("http://evil")', '\'=HYPERLINK("http://evil")'),
        ("+SUM(A1)", "'+SUM(A1)"),
        ("-2+3", "'-2+3"),
        ("@cmd", "'@cmd"),
        ("\tTAB", "'\tTAB"),
        ("\rCR", "'\rCR"),
        ("-500", "-500"),  # a negative amount stays a number
        ("-1\n", "'-1\n"),  # a number and a line break is not a number
        ("+5\r", "'+5\r"),
        ("Plain name", "Plain name"),
        (None, ""),
        (" =1+1", "' =1+1"),  # what a spreadsheet skips before a formula
        ("\u00a0=cmd", "'\u00a0=cmd"),  # a no-break space
        ("\u200b@SUM(A1)", "'\u200b@SUM(A1)"),  # a zero-width space
        ("\ufeff\u3000+1", "'\ufeff\u3000+1"),
        ("\uff1dHYPERLINK()", "'\uff1dHYPERLINK()"),  # the fullwidth =
        ("\uff0b1", "'\uff0b1"),
        ("\n-x", "'\n-x"),
        (" 12 Main St", " 12 Main St"),  # a space before text is only text
        ("a=b", "a=b"),
    ],
)
def test_cells_are_neutralised_against_formula_injection(raw, cell):
    assert neutralise(raw) == cell


def test_a_hostile_name_arrives_neutralised_in_the_download(client, analyst):
    UserFactory(roles=["customer"], full_name="=cmd|' /C calc'!A0")
    client.force_login(analyst)
    rows = _rows(_download(client, "customers"))
    assert [r[2] for r in rows[1:]] == ["'=cmd|' /C calc'!A0"]


def test_every_download_is_audited_with_filters_rows_and_sha256(
    client, analyst, customer
):
    for _ in range(3):
        place_order(customer=customer, variants={VariantFactory(stock=3): 1})
    client.force_login(analyst)
    today = timezone.now().date().isoformat()
    data = _download(client, "orders", date_from=today, date_to=today)
    row = AuditLog.objects.get(event_type="analytics.export")
    assert (row.actor, row.actor_role, row.target_id) == (analyst, "analyst", "orders")
    assert row.metadata["rows"] == 3 == len(_rows(data)) - 1
    assert row.metadata["sha256"] == hashlib.sha256(data).hexdigest()
    assert row.metadata["filters"] == {"from": today, "to": today}
    assert row.metadata["complete"] is True


def test_date_filters_select_business_days(client, analyst, customer):
    order = place_order(customer=customer, variants={VariantFactory(stock=3): 1})
    client.force_login(analyst)
    tomorrow = (timezone.now() + dt.timedelta(days=2)).date().isoformat()
    assert len(_rows(_download(client, "orders", date_from=tomorrow))) == 1
    assert order.number in _download(client, "orders").decode()
    bad = client.get(
        reverse("analyticsapp:export_download", args=["orders"]),
        {"date_from": "2026-02-01", "date_to": "2026-01-01"},
    )
    assert bad.status_code == 400
    assert "The range ends before it starts." in bad.content.decode()


def test_customers_get_403_and_unknown_exports_404(client, customer, ops_user):
    client.force_login(customer)
    url = reverse("analyticsapp:export_download", args=["orders"])
    assert client.get(url).status_code == 403
    client.force_login(ops_user)
    assert client.get(url).status_code == 200
    missing = reverse("analyticsapp:export_download", args=["secrets"])
    assert client.get(missing).status_code == 404
    assert not AuditLog.objects.filter(target_id="secrets").exists()


def test_an_export_of_100k_rows_streams_without_holding_them(client, analyst):
    start = dt.date(1800, 1, 1)
    DailySnapshot.objects.bulk_create(
        (
            DailySnapshot(
                day=start + dt.timedelta(days=i),
                gross_revenue_pennies=i,
                net_revenue_pennies=i,
                built_at=timezone.now(),
            )
            for i in range(100_000)
        ),
        batch_size=5000,
    )
    client.force_login(analyst)
    response = client.get(reverse("analyticsapp:export_download", args=["daily_kpis"]))
    assert response.streaming
    tracemalloc.start()
    total, rows = 0, 0
    for chunk in response.streaming_content:
        total += len(chunk)
        rows += chunk.count(b"\n")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert rows == 100_001
    # Held in memory, 100k rows would cost more than the file itself (4+ MB);
    # streamed, the peak is a fixed batch of rows (about 1 MB here).
    assert total > 4_000_000
    assert peak < total / 2, f"peak {peak} bytes for a {total}-byte export"


def test_the_command_writes_the_same_file_audited_as_the_cli_user(tmp_path, customer):
    place_order(customer=customer, variants={VariantFactory(stock=3): 1})
    out = tmp_path / "orders.csv"
    call_command("export_csv", "orders", "--out", str(out))
    data = out.read_bytes()
    assert _rows(data)[0] == CONTRACT["exports"]["orders"]["columns"]
    row = AuditLog.objects.get(event_type="analytics.export")
    assert row.actor_label.startswith("cli:")
    assert row.metadata["sha256"] == hashlib.sha256(data).hexdigest()
    with pytest.raises(CommandError, match="no export 'nope'"):
        call_command("export_csv", "nope")
    with pytest.raises(CommandError, match="give --out"):
        call_command("export_csv", "bi_pack")


def _python_bytes(export, filters):
    """The same export through Python's csv writer (the path SQLite takes)."""
    as_python = Export(
        export.name, export.title, export.columns, lambda f: export.rows(f)
    )
    return b"".join(csv_chunks(as_python, filters, {}))


@pytest.mark.postgres
@hyp_settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    names=st.lists(
        st.text(
            st.one_of(
                st.characters(
                    blacklist_categories=("Cs",), blacklist_characters="\x00"
                ),
                st.sampled_from(
                    " \t\u00a0\u200b\ufeff\u3000=+-@\uff1d\uff0b\uff0d\uff20"
                ),
            ),
            max_size=12,
        ),
        min_size=1,
        max_size=4,
    ),
    micros=st.integers(min_value=0, max_value=999_999),
)
def test_copy_writes_the_bytes_python_writes_for_hostile_cells(db, names, micros):
    """PostgreSQL streams queryset exports with COPY; formulas, quotes, commas, line
    breaks, signs and microseconds must come out exactly as Python writes them."""
    with transaction.atomic():
        joined = timezone.now().replace(microsecond=micros)
        extra = ["-12.5", "+44 20 7946", "=1+1", "", "-1\n", "+5\r", " =1"]
        extra += ["\u00a0@x", "\u200b\u3000-1", "\uff1dA1", "\ufeff+", "\u2060x"]
        for i, name in enumerate([*names, *extra]):
            UserFactory(roles=["customer"], full_name=name, date_joined=joined)
            assert i < 16
        export, filters, tally = EXPORTS["customers"], Filters(), {}
        copied = b"".join(csv_chunks(export, filters, tally))
        assert copied == _python_bytes(export, filters)
        assert tally["rows"] == len(names) + len(extra)
        transaction.set_rollback(True)


@pytest.mark.postgres
def test_every_queryset_export_is_copied_byte_for_byte(customer, analyst):
    place_order(customer=customer, variants={VariantFactory(stock=5): 2})
    for name, export in EXPORTS.items():
        if not isinstance(export.rows, QueryRows):
            continue
        tally: dict = {}
        copied = b"".join(csv_chunks(export, Filters(), tally))
        assert copied == _python_bytes(export, Filters()), name
        assert tally["complete"] and tally["rows"] == copied.count(b"\n") - 1, name


def test_the_contract_names_every_formula_character_the_writers_neutralise():
    rule = CONTRACT["format"]["formula_injection"]
    for char in FORMULA_STARTS:
        assert f" {char}" in rule, repr(char)
    assert "tab or CR" in rule and "zero-width" in rule


def test_every_audited_download_records_the_clients_address(client, analyst):
    client.force_login(analyst)
    csv_url = reverse("analyticsapp:export_download", args=["orders"])
    b"".join(client.get(csv_url, REMOTE_ADDR="198.51.100.7").streaming_content)
    client.get(reverse("analyticsapp:export_bi_pack"), REMOTE_ADDR="198.51.100.8")
    rows = AuditLog.objects.filter(event_type="analytics.export")
    assert dict(rows.values_list("target_id", "ip_address")) == {
        "orders": "198.51.100.7",
        "bi_pack": "198.51.100.8",
    }


def test_a_bi_pack_longer_than_two_years_is_asked_for_in_parts(client, analyst):
    client.force_login(analyst)
    url = reverse("analyticsapp:export_bi_pack")
    long = client.get(url, {"date_from": "2000-01-01", "date_to": "2026-01-01"})
    assert long.status_code == 400 and "at most 731 days" in long.content.decode()
    ok = client.get(url, {"date_from": "2024-01-02", "date_to": "2026-01-01"})
    assert ok.status_code == 200
    assert client.get(url).status_code == 200  # the whole history: no dates
