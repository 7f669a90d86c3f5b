"""docs/acceptance_matrix.md tells the truth: every file it names exists, every test it
names is defined in its file, every demo step it names is a numbered heading of
docs/demo_walkthrough.md, and every area is a heading or capability of the README."""

import ast
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MATRIX = ROOT / "docs" / "acceptance_matrix.md"
WALKTHROUGH = ROOT / "docs" / "demo_walkthrough.md"
README = ROOT / "README.md"

COLUMNS = ["#", "Area", "Claim", "Code", "Tests", "Demo"]
CODE_SPAN = re.compile(r"`([^`\n]+)`")
STEP_REFERENCE = re.compile(r"Walkthrough (\d+)")
STEP_HEADING = re.compile(r"^## (\d+)\. \S", re.MULTILINE)
README_HEADING = re.compile(r"^## (.+?)\s*$", re.MULTILINE)
README_CAPABILITY = re.compile(r"^- \*\*(.+?)\*\*", re.MULTILINE)


@dataclass
class Row:
    number: str
    area: str
    claim: str
    code: list[str] = field(default_factory=list)
    tests: list[str] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    demo: str = ""


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def parse_matrix(text: str) -> list[Row]:
    """The rows of the first table whose header is COLUMNS."""
    rows, in_table = [], False
    for line in text.splitlines():
        if not line.startswith("|"):
            if in_table:
                break
            continue
        cells = _cells(line)
        if cells == COLUMNS:
            in_table = True
            continue
        if not in_table or set("".join(cells)) <= set("-: "):
            continue
        number, area, claim, code, tests, demo = cells + [""] * (6 - len(cells))
        rows.append(
            Row(
                number=number,
                area=area,
                claim=claim,
                code=CODE_SPAN.findall(code),
                tests=CODE_SPAN.findall(tests),
                steps=[int(n) for n in STEP_REFERENCE.findall(demo)],
                demo=demo,
            )
        )
    return rows


@cache
def defined_tests(path: Path) -> frozenset[str]:
    """`test_x` for module-level tests and `Class::test_x` for tests in classes."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    functions = (ast.FunctionDef, ast.AsyncFunctionDef)
    for node in tree.body:
        if isinstance(node, functions) and node.name.startswith("test"):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            for member in node.body:
                if isinstance(member, functions) and member.name.startswith("test"):
                    names.add(f"{node.name}::{member.name}")
    return frozenset(names)


def walkthrough_steps(text: str) -> set[int]:
    return {int(n) for n in STEP_HEADING.findall(text)}


def readme_areas(text: str) -> set[str]:
    return set(README_HEADING.findall(text)) | set(README_CAPABILITY.findall(text))


def problems(
    rows: list[Row], *, root: Path, steps: set[int], areas: set[str] | None = None
) -> list[str]:
    """Everything the matrix names that does not exist, one line per problem."""
    found = []
    for row in rows:
        where = f"row {row.number}"
        if not row.code:
            found.append(f"{where}: no code named")
        if not row.tests:
            found.append(f"{where}: no test named")
        if not row.steps and row.demo != "—":
            found.append(f"{where}: demo is neither 'Walkthrough N' nor '—'")
        if areas is not None and row.area not in areas:
            found.append(f"{where}: area {row.area!r} is not in the README")
        for name in row.code:
            if not (root / name).exists():
                found.append(f"{where}: no such file {name}")
        for node_id in row.tests:
            path_part, _, test = node_id.partition("::")
            path = root / path_part
            test = re.sub(r"\[.*\]$", "", test)  # a parametrised case
            if not test:
                found.append(f"{where}: {node_id} names no test")
            elif not path.is_file():
                found.append(f"{where}: no such test file {path_part}")
            elif test not in defined_tests(path):
                found.append(f"{where}: no test {test} in {path_part}")
        for step in row.steps:
            if step not in steps:
                found.append(f"{where}: no step {step} in the walkthrough")
    return found


def test_every_reference_in_the_matrix_exists():
    rows = parse_matrix(MATRIX.read_text())
    assert len(rows) >= 50, "the matrix table was not found or lost rows"
    assert [r.number for r in rows] == [str(n) for n in range(1, len(rows) + 1)]
    found = problems(
        rows,
        root=ROOT,
        steps=walkthrough_steps(WALKTHROUGH.read_text()),
        areas=readme_areas(README.read_text()),
    )
    assert not found, "docs/acceptance_matrix.md:\n" + "\n".join(found)


def test_every_readme_capability_has_a_row():
    areas = {row.area for row in parse_matrix(MATRIX.read_text())}
    capabilities = set(README_CAPABILITY.findall(README.read_text()))
    assert capabilities, "the README's capability bullets were not found"
    assert not capabilities - areas, "README capabilities without a matrix row"


def test_the_walkthrough_is_numbered_from_one_without_gaps():
    steps = walkthrough_steps(WALKTHROUGH.read_text())
    assert steps == set(range(1, len(steps) + 1))
    assert len(steps) >= 10


MINI_MATRIX = (
    "| # | Area | Claim | Code | Tests | Demo |\n"
    "| --- | --- | --- | --- | --- | --- |\n"
    "| 1 | Trust | Renamed. | `core/money.py` "
    "| `core/tests/test_x.py::test_renamed_away` | Walkthrough 1 |\n"
)


def _fake_repo(tmp_path: Path) -> Path:
    (tmp_path / "core" / "tests").mkdir(parents=True)
    (tmp_path / "core" / "money.py").write_text("")
    (tmp_path / "core" / "tests" / "test_x.py").write_text(
        "def test_kept():\n    pass\n\n\n"
        "class TestGroup:\n    def test_inside(self):\n        pass\n\n\n"
        "def helper():\n    def test_nested_is_not_collected():\n        pass\n"
    )
    return tmp_path


def test_the_checker_reports_a_renamed_test(tmp_path):
    root = _fake_repo(tmp_path)
    found = problems(parse_matrix(MINI_MATRIX), root=root, steps={1})
    assert found == ["row 1: no test test_renamed_away in core/tests/test_x.py"]

    kept = MINI_MATRIX.replace("test_renamed_away", "test_kept")
    assert problems(parse_matrix(kept), root=root, steps={1}) == []


def test_the_checker_reports_missing_files_steps_and_areas(tmp_path):
    root = _fake_repo(tmp_path)
    text = (
        MINI_MATRIX.replace("core/money.py", "core/gone.py")
        .replace("core/tests/test_x.py::test_renamed_away", "core/tests/test_y.py::t")
        .replace("Walkthrough 1", "Walkthrough 1, Walkthrough 9")
    )
    found = problems(parse_matrix(text), root=root, steps={1}, areas={"Payments"})
    assert found == [
        "row 1: area 'Trust' is not in the README",
        "row 1: no such file core/gone.py",
        "row 1: no such test file core/tests/test_y.py",
        "row 1: no step 9 in the walkthrough",
    ]


def test_the_checker_finds_tests_in_classes_and_parametrised_ids(tmp_path):
    root = _fake_repo(tmp_path)
    assert defined_tests(root / "core" / "tests" / "test_x.py") == {
        "test_kept",
        "TestGroup::test_inside",
    }
    text = MINI_MATRIX.replace(
        "`core/tests/test_x.py::test_renamed_away`",
        "`core/tests/test_x.py::TestGroup::test_inside`, "
        "`core/tests/test_x.py::test_kept[case-1]`, "
        "`core/tests/test_x.py::test_inside`, "
        "`core/tests/test_x.py::test_nested_is_not_collected`",
    )
    assert problems(parse_matrix(text), root=root, steps={1}) == [
        "row 1: no test test_inside in core/tests/test_x.py",
        "row 1: no test test_nested_is_not_collected in core/tests/test_x.py",
    ]


def test_a_row_without_tests_or_a_demo_is_reported(tmp_path):
    root = _fake_repo(tmp_path)
    text = MINI_MATRIX.replace(
        "`core/tests/test_x.py::test_renamed_away` | Walkthrough 1", "none | soon"
    )
    assert problems(parse_matrix(text), root=root, steps={1}) == [
        "row 1: no test named",
        "row 1: demo is neither 'Walkthrough N' nor '—'",
    ]


def test_the_walkthrough_steps_are_its_numbered_headings():
    text = "# Title\n## 1. Start\ntext\n## 2. Shop\n### 3. not a step\n## Notes\n"
    assert walkthrough_steps(text) == {1, 2}
