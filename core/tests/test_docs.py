"""The docs tell the truth about commands and links: every `manage.py <command>`,
`make <target>` and `scripts/<file>` they name exists, and every relative link (and
its #anchor) points at something real."""

import re
from pathlib import Path

import pytest
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted(
    [ROOT / "README.md", ROOT / "CHANGELOG.md", *(ROOT / "docs").rglob("*.md")]
)

COMMAND = re.compile(r"manage\.py\s+([a-z_][a-z0-9_]*)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
MAKE_TARGET = re.compile(r"(?:^|[\s`(])make\s+([a-z][a-z0-9-]*)", re.MULTILINE)
MAKEFILE_RULE = re.compile(r"^([A-Za-z][\w.-]*)\s*:(?!=)", re.MULTILINE)
SCRIPT = re.compile(r"\bscripts/[\w.-]+\.(?:sh|py)\b")


def _label(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _prose(text: str) -> str:
    """The text without code blocks and code spans, where links are not links."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def _code(text: str) -> str:
    """Only the code blocks and code spans, where commands are commands."""
    fences = FENCE.findall(text)
    return "\n".join([*fences, *INLINE_CODE.findall(FENCE.sub("", text))])


def _anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to '-'."""
    text = FENCE.sub("", path.read_text())
    return {
        re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        for heading in HEADING.findall(text)
    }


def test_the_docs_are_found():
    names = {_label(p) for p in DOCS}
    assert {"README.md", "docs/runbook.md", "docs/deployment.md"} <= names
    assert "docs/data_governance.md" in names
    assert {"CHANGELOG.md", "docs/upgrade_policy.md", "docs/out_of_scope.md"} <= names
    assert {"docs/acceptance_matrix.md", "docs/demo_walkthrough.md"} <= names


@pytest.mark.parametrize("doc", DOCS, ids=_label)
def test_every_manage_py_command_named_in_the_docs_exists(doc):
    known = set(get_commands())
    named = set(COMMAND.findall(doc.read_text()))
    assert not named - known, f"{_label(doc)} names unknown commands"


@pytest.mark.parametrize("doc", DOCS, ids=_label)
def test_every_make_target_named_in_the_docs_exists(doc):
    known = set(MAKEFILE_RULE.findall((ROOT / "Makefile").read_text()))
    named = set(MAKE_TARGET.findall(_code(doc.read_text())))
    assert not named - known, f"{_label(doc)} names unknown make targets"


@pytest.mark.parametrize("doc", DOCS, ids=_label)
def test_every_script_named_in_the_docs_exists(doc):
    named = set(SCRIPT.findall(doc.read_text()))
    assert not {n for n in named if not (ROOT / n).is_file()}, (
        f"{_label(doc)} names scripts that do not exist"
    )


@pytest.mark.parametrize("doc", DOCS, ids=_label)
def test_every_relative_link_in_the_docs_points_at_a_file_and_anchor(doc):
    broken = []
    for target in LINK.findall(_prose(doc.read_text())):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):
            continue  # http:, https:, mailto:
        path_part, _, anchor = target.partition("#")
        if path_part.startswith("/"):
            broken.append(f"{target} (absolute: a site URL, not a file)")
            continue
        linked = (doc.parent / path_part).resolve() if path_part else doc
        if not linked.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
            broken.append(f"{target} (no heading #{anchor})")
    assert not broken, f"{_label(doc)}: broken links: {broken}"


def test_the_link_and_command_finders_find_what_they_should(tmp_path):
    text = (
        "Run `manage.py run_checks` or\n```bash\npython manage.py migrate\n```\n"
        "See [ops](runbook.md#start-and-stop), [web](https://example.com) and "
        "`[not a link](nowhere.md)`.\n## Start and stop\n"
    )
    assert COMMAND.findall(text) == ["run_checks", "migrate"]
    assert LINK.findall(_prose(text)) == [
        "runbook.md#start-and-stop",
        "https://example.com",
    ]
    doc = tmp_path / "x.md"
    doc.write_text("# Anonymisation (the right to erasure)\n## `orders` and more\n")
    assert _anchors(doc) == {"anonymisation-the-right-to-erasure", "orders-and-more"}


def test_the_make_and_script_finders_find_what_they_should():
    text = (
        "To make sure, run `make demo` or:\n```bash\nmake test\nmake bench-quick\n"
        "scripts/backup.sh\n```\nthen (`make lint`) and see scripts/restore.sh.\n"
    )
    assert MAKE_TARGET.findall(_code(text)) == ["test", "bench-quick", "demo", "lint"]
    assert SCRIPT.findall(text) == ["scripts/backup.sh", "scripts/restore.sh"]
    makefile = "VENV := .venv\n$(BIN)/python:\n\tx\ndemo: $(INSTALLED)\nbench-quick:\n"
    assert MAKEFILE_RULE.findall(makefile) == ["demo", "bench-quick"]
