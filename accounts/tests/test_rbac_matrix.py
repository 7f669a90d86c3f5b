from pathlib import Path

from django.conf import settings

from accounts.rbac_matrix import render_matrix


def test_docs_rbac_matrix_is_generated_from_the_current_policy():
    on_disk = (Path(settings.BASE_DIR) / "docs" / "rbac_matrix.md").read_text()
    assert on_disk == render_matrix(), "stale: run `python manage.py rbac_matrix`"


def test_matrix_shows_each_role_outcome():
    text = render_matrix()
    assert "| `admin:*` | `/admin/…` | admin | login | yes | 403 | 403 | 403 |" in text
