from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.rbac_matrix import render_matrix


class Command(BaseCommand):
    help = "Write docs/rbac_matrix.md from the access policy (--check: compare only)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--check", action="store_true", help="exit 1 if the file is stale"
        )
        parser.add_argument(
            "--out", default=str(Path(settings.BASE_DIR) / "docs" / "rbac_matrix.md")
        )

    def handle(self, *args, check, out, **options):
        path = Path(out)
        text = render_matrix()
        if check:
            if not path.exists() or path.read_text() != text:
                raise CommandError(
                    f"{path} is stale: run `python manage.py rbac_matrix`"
                )
            self.stdout.write(f"{path} is up to date")
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        self.stdout.write(f"wrote {path}")
