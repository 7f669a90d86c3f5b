"""The version is written once (`purelaka.__version__`), released in CHANGELOG.md and
available to every template as `app_version`."""

import re
import tomllib
from pathlib import Path

import pytest

import purelaka

ROOT = Path(__file__).resolve().parents[2]
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
ASSIGNED_VERSION = re.compile(r"^\s*(__version__|VERSION|APP_VERSION)\s*=", re.M)


def test_the_version_is_written_once():
    assert SEMVER.match(purelaka.__version__)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert project["project"]["dynamic"] == ["version"]
    setuptools = project["tool"]["setuptools"]["dynamic"]
    assert setuptools["version"] == {"attr": "purelaka.__version__"}
    ours = [d for d in ROOT.iterdir() if d.is_dir() and not d.name.startswith(".")]
    sources = [
        p
        for d in ours
        for p in d.rglob("*.py")
        if "staticfiles" not in p.parts and ASSIGNED_VERSION.search(p.read_text())
    ]
    assert [str(p.relative_to(ROOT)) for p in sources] == ["purelaka/__init__.py"]


def test_the_changelog_releases_the_current_version():
    changelog = (ROOT / "CHANGELOG.md").read_text()
    releases = re.findall(
        r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", changelog, re.M
    )
    assert releases, "no released version in CHANGELOG.md"
    assert releases[0] == purelaka.__version__
    assert "## [Unreleased]" in changelog
    assert changelog.index("## [Unreleased]") < changelog.index(f"## [{releases[0]}]")


@pytest.mark.django_db
def test_every_page_knows_the_version(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.context["app_version"] == purelaka.__version__
