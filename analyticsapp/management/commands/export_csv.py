import datetime as dt
import getpass
import shutil
import sys

from django.core.management.base import BaseCommand, CommandError

from analyticsapp.export_formats import (
    BI_PACK_FORMATS,
    FORMATS,
    UnknownFormat,
    export_format,
)
from analyticsapp.exports import EXPORTS, Filters, audit_export, bi_pack, export_chunks


class Command(BaseCommand):
    help = (
        "Write an export (as the web downloads give it) as CSV, xlsx or Parquet, "
        "audited as the CLI user."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help=", ".join([*EXPORTS, "bi_pack"]))
        parser.add_argument("--from", dest="date_from", help="YYYY-MM-DD")
        parser.add_argument(
            "--to", dest="date_to", help="YYYY-MM-DD (the as-of day of as-of exports)"
        )
        parser.add_argument(
            "--format",
            dest="fmt",
            default="csv",
            help=f"{'|'.join(FORMATS)} (default csv); bi_pack: "
            f"{'|'.join(BI_PACK_FORMATS)}",
        )
        parser.add_argument("--out", help="file to write (default: standard output)")

    def handle(self, *args, name, date_from, date_to, out, fmt, **options):
        if name not in EXPORTS and name != "bi_pack":
            raise CommandError(
                f"no export {name!r}; choose from: {', '.join([*EXPORTS, 'bi_pack'])}"
            )
        try:
            fmt = export_format(
                fmt, choices=BI_PACK_FORMATS if name == "bi_pack" else tuple(FORMATS)
            ).name
        except UnknownFormat as exc:
            raise CommandError(str(exc)) from exc
        try:
            filters = Filters(
                dt.date.fromisoformat(date_from) if date_from else None,
                dt.date.fromisoformat(date_to) if date_to else None,
            )
        except ValueError as exc:
            raise CommandError(f"dates are YYYY-MM-DD: {exc}") from exc
        if date_from and name in EXPORTS and EXPORTS[name].as_of:
            raise CommandError(
                f"{name} is a state as of one day: give --to (default yesterday), "
                "not --from"
            )
        if name == "bi_pack" and not out:
            raise CommandError("bi_pack is a ZIP: give --out FILE")
        tally: dict = {}
        target = open(out, "wb") if out else sys.stdout.buffer  # noqa: SIM115
        try:
            if name == "bi_pack":
                with bi_pack(filters, tally, fmt) as archive:
                    shutil.copyfileobj(archive, target)
            else:
                for chunk in export_chunks(EXPORTS[name], filters, tally, fmt):
                    target.write(chunk)
        except BrokenPipeError:  # `| head` closed the pipe: stop quietly
            sys.stdout = None
        finally:
            if out:
                target.close()
            audit_export(
                name=name, filters=filters, tally=tally,
                actor_label=f"cli:{getpass.getuser()}", fmt=fmt,
            )  # fmt: skip
        if out:
            self.stderr.write(
                f"wrote {tally['rows']} rows to {out} (sha256 {tally['sha256']})"
            )
