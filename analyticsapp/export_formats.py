"""Every export as an Excel workbook (.xlsx) or a Parquet file (.parquet) as well as
CSV: the same rows and columns, typed as docs/contracts/kpi_contract.json's
"formats" and each export's "types" say.

Both are written to a temporary file in constant memory (openpyxl's write-only
workbook; pyarrow's writer, one row group per ROW_GROUP rows) and then streamed in
blocks, with the same tally as `csv_chunks`: row count, SHA-256 of the bytes sent,
complete. No value is ever a formula in a workbook: every text is a text cell."""

import datetime as dt
import hashlib
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import models

from analyticsapp.formulas import looks_like_formula
from core.money import CURRENCY_SYMBOLS, ZERO_DECIMAL, store_currency, to_major

BLOCK = 64 * 1024
ROW_GROUP = 10_000  # rows per Parquet row group: what is held in memory at once


@dataclass(frozen=True)
class Format:
    name: str
    extension: str
    content_type: str


FORMATS = {
    f.name: f
    for f in [
        Format("csv", "csv", "text/csv; charset=utf-8"),
        Format(
            "xlsx",
            "xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        Format("parquet", "parquet", "application/vnd.apache.parquet"),
    ]
}
BI_PACK_FORMATS = ("csv", "parquet")


class UnknownFormat(ValueError):
    pass


def export_format(name: str | None, *, choices=tuple(FORMATS)) -> Format:
    """The format called `name` (default csv); UnknownFormat, with a sentence to
    show, for any other."""
    name = "csv" if name in (None, "") else name
    if name not in choices:
        raise UnknownFormat(
            f"Unknown export format {name!r}: choose {', '.join(choices)}."
        )
    return FORMATS[name]


# --- column types ---------------------------------------------------------------------

STRING, INTEGER, MONEY, BOOLEAN = "string", "integer", "money", "boolean"
DATE, TIMESTAMP = "date", "timestamp"
# A KPI summary's value: money (pennies) when the row's kpi ends in _pennies,
# otherwise a count or a ratio (at most 4 places).
KPI_VALUE = "kpi_value"


def decimal(precision: int, scale: int) -> str:
    return f"decimal({precision},{scale})"


def _decimal_parts(kind: str) -> tuple[int, int]:
    precision, scale = kind.removeprefix("decimal(").removesuffix(")").split(",")
    return int(precision), int(scale)


def _field_type(column: str, field) -> str:
    if isinstance(field, models.DateTimeField):
        return TIMESTAMP
    if isinstance(field, models.BooleanField):
        return BOOLEAN
    if isinstance(field, models.DateField):
        return DATE
    if isinstance(field, models.IntegerField | models.AutoField):
        return MONEY if column.endswith("_pennies") else INTEGER
    if isinstance(field, models.DecimalField):
        return decimal(field.max_digits, field.decimal_places)
    if isinstance(field, models.CharField | models.TextField):
        return STRING
    raise TypeError(f"no export type for {type(field).__name__} ({column})")


def column_types(export) -> dict[str, str]:
    """{column: type}, in the export's order: declared on the export, or read from
    the model fields of a queryset export."""
    if export.types:
        kinds = list(export.types)
    elif hasattr(export.rows, "output_fields"):  # a queryset export (QueryRows)
        kinds = [
            _field_type(column, field)
            for column, field in zip(
                export.columns, export.rows.output_fields(), strict=True
            )
        ]
    else:
        raise TypeError(f"export {export.name!r} declares no column types")
    return dict(zip(export.columns, kinds, strict=True))


def major_column(column: str) -> str:
    """The Parquet decimal twin of a money column: amount_pennies → amount_major."""
    return column.removesuffix("_pennies") + "_major"


def parquet_columns(export) -> list[str]:
    """The CSV header, then one `<name>_major` per money column, in header order."""
    types = column_types(export)
    return [*types, *(major_column(c) for c, kind in types.items() if kind == MONEY)]


def _currency_of(export):
    """A row's currency: its `currency` column where the export has one, else the
    store's."""
    if "currency" in export.columns:
        index = export.columns.index("currency")
        store = store_currency()
        return lambda row: (row[index] or store).upper()
    store = store_currency()
    return lambda row: store


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else value.astimezone(dt.UTC)


# --- Excel ----------------------------------------------------------------------------

DATE_FORMAT = "yyyy-mm-dd"
TIMESTAMP_FORMAT = "yyyy-mm-dd hh:mm:ss"  # UTC; the value keeps milliseconds


def money_format(currency: str) -> str:
    """'"£"#,##0.00' for GBP; '#,##0 "JPY"' for a zero-decimal currency."""
    currency = currency.upper()
    places = "#,##0" if currency in ZERO_DECIMAL else "#,##0.00"
    symbol = CURRENCY_SYMBOLS.get(currency)
    return f'"{symbol}"{places}' if symbol else f'{places} "{currency}"'


def _xlsx_text(value) -> str:
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    # XML 1.0 cannot hold most control characters: each becomes U+FFFD; and its
    # readers turn a CR or CRLF into LF, which is therefore what is written.
    text = str(value).replace("\r\n", "\n").replace("\r", "\n")
    return ILLEGAL_CHARACTERS_RE.sub("\ufffd", text)


def write_xlsx(export, filters, tally: dict, target) -> None:
    """The export as one worksheet (header bold and frozen), into `target`."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    types = column_types(export)
    kinds = list(types.values())
    currency_of = _currency_of(export)
    kpi_index = export.columns.index("kpi") if KPI_VALUE in kinds else None
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(export.name[:31])
    sheet.freeze_panes = "A2"
    for i, column in enumerate(export.columns, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = max(12, len(column) + 2)
    bold = Font(bold=True)

    def text_cell(value):
        cell = WriteOnlyCell(sheet, value=_xlsx_text(value))
        cell.data_type = "s"  # never "f": a text that starts with = stays text
        if looks_like_formula(str(value)):
            cell.quotePrefix = True  # and stays text when edited in Excel
        return cell

    def money_cell(pennies, currency):
        cell = WriteOnlyCell(sheet, value=to_major(pennies, currency))
        cell.number_format = money_format(currency)
        return cell

    def cell(kind, value, row):
        if value is None:
            return None
        if kind == STRING:
            return text_cell(value)
        if kind == MONEY:
            return money_cell(value, currency_of(row))
        if kind == KPI_VALUE and row[kpi_index].endswith("_pennies"):
            return money_cell(value, store_currency())
        if kind == TIMESTAMP:
            stamped = WriteOnlyCell(sheet, value=_utc(value).replace(tzinfo=None))
            stamped.number_format = TIMESTAMP_FORMAT
            return stamped
        if kind == DATE:
            day = WriteOnlyCell(sheet, value=value)
            day.number_format = DATE_FORMAT
            return day
        if kind == INTEGER:
            return int(value)
        if kind == BOOLEAN:
            return bool(value)
        return Decimal(value)  # decimal(p,s), or a count or ratio of kpi_value

    header = []
    for column in export.columns:
        title = text_cell(column)
        title.font = bold
        header.append(title)
    sheet.append(header)
    for row in export.rows(filters):
        sheet.append(
            [cell(kind, value, row) for kind, value in zip(kinds, row, strict=True)]
        )
        tally["rows"] += 1
    workbook.save(target)


# --- Parquet --------------------------------------------------------------------------


def _arrow_type(kind: str):
    import pyarrow as pa

    if kind == KPI_VALUE:
        kind = decimal(18, 4)
    if kind.startswith("decimal("):
        return pa.decimal128(*_decimal_parts(kind))
    return {
        STRING: pa.string(),
        INTEGER: pa.int64(),
        MONEY: pa.int64(),
        BOOLEAN: pa.bool_(),
        DATE: pa.date32(),
        TIMESTAMP: pa.timestamp("us", tz="UTC"),
    }[kind]


MAJOR = decimal(18, 2)  # a money column's `_major` twin


def parquet_schema(export, filters):
    import pyarrow as pa

    from analyticsapp.kpis import KPI_DEFINITIONS_VERSION

    types = column_types(export)
    fields = [pa.field(c, _arrow_type(kind)) for c, kind in types.items()]
    fields += [
        pa.field(major_column(c), _arrow_type(MAJOR))
        for c, kind in types.items()
        if kind == MONEY
    ]
    return pa.schema(
        fields,
        metadata={
            "export": export.name,
            "kpi_definitions_version": KPI_DEFINITIONS_VERSION,
            "store_currency": store_currency(),
            "reporting_timezone": settings.REPORTING_TIMEZONE,
            "filters": repr(filters.as_dict()),
        },
    )


def _arrow_value(kind: str, value):
    if value is None:
        return None
    if kind == TIMESTAMP:
        return _utc(value)
    if kind in (INTEGER, MONEY):
        return int(value)
    if kind == KPI_VALUE or kind.startswith("decimal("):
        return Decimal(value)
    if kind == STRING:
        return str(value)
    return value


def write_parquet(export, filters, tally: dict, target) -> None:
    """The export as one Parquet file into `target`, ROW_GROUP rows at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = column_types(export)
    kinds = list(types.values())
    money = [i for i, kind in enumerate(kinds) if kind == MONEY]
    currency_of = _currency_of(export)
    schema = parquet_schema(export, filters)
    width = len(schema)

    def flush(columns):
        batch = pa.record_batch(
            [
                pa.array(values, type=f.type)
                for values, f in zip(columns, schema, strict=True)
            ],
            schema=schema,
        )
        writer.write_batch(batch, row_group_size=ROW_GROUP)

    with pq.ParquetWriter(target, schema, compression="snappy") as writer:
        columns: list[list] = [[] for _ in range(width)]
        for row in export.rows(filters):
            for i, (kind, value) in enumerate(zip(kinds, row, strict=True)):
                columns[i].append(_arrow_value(kind, value))
            currency = currency_of(row)
            for j, i in enumerate(money, start=len(kinds)):
                pennies = row[i]
                columns[j].append(
                    None if pennies is None else to_major(pennies, currency)
                )
            tally["rows"] += 1
            if len(columns[0]) >= ROW_GROUP:
                flush(columns)
                columns = [[] for _ in range(width)]
        if columns[0]:
            flush(columns)  # an empty export is still a file, with its schema


WRITERS = {"xlsx": write_xlsx, "parquet": write_parquet}


def write_file(export, filters, tally: dict, target, fmt: str) -> None:
    """The export in `fmt` (xlsx or parquet) into the binary file `target`."""
    tally.update(rows=0, sha256=None, complete=False, filters=filters.as_dict())
    WRITERS[fmt](export, filters, tally, target)


def file_chunks(export, filters, tally: dict, fmt: str) -> Iterator[bytes]:
    """As `csv_chunks`, for xlsx or parquet: the file is written to a temporary file
    (a workbook and a Parquet file end in their index), then sent in blocks."""
    filters = export.applied(filters)
    digest = hashlib.sha256()
    with tempfile.TemporaryFile() as spool:
        write_file(export, filters, tally, spool, fmt)
        spool.seek(0)
        for block in iter(lambda: spool.read(BLOCK), b""):
            digest.update(block)
            yield block
    tally.update(sha256=digest.hexdigest(), complete=True)


def copy_file(export, filters, tally: dict, member, fmt: str) -> None:
    """The export in `fmt` into a ZIP member (which cannot seek)."""
    with tempfile.TemporaryFile() as spool:
        write_file(export, export.applied(filters), tally, spool, fmt)
        spool.seek(0)
        shutil.copyfileobj(spool, member, BLOCK)
