"""The benchmark's bulk loader names its columns by hand (bench/generate.py TABLES):
every column a model requires must be among them, or COPY fills it with NULL and
bench-quick fails minutes into make test (a new NOT NULL field did exactly that)."""

from django.apps import apps
from django.db.models import NOT_PROVIDED

from bench.generate import TABLES


def _required_columns(model) -> set[str]:
    return {
        f.column
        for f in model._meta.concrete_fields
        if not f.null and f.db_default is NOT_PROVIDED
    }


def test_the_bench_loader_writes_every_required_column_of_its_tables():
    models = {m._meta.db_table: m for m in apps.get_models(include_auto_created=True)}
    missing = {
        table: sorted(_required_columns(models[table]) - set(columns))
        for table, columns in TABLES.items()
    }
    assert {t: cols for t, cols in missing.items() if cols} == {}
