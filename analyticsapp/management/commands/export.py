"""`manage.py export NAME --format csv|xlsx|parquet`: another name for export_csv."""

from analyticsapp.management.commands.export_csv import Command as ExportCsv


class Command(ExportCsv):
    pass
