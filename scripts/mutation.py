#!/usr/bin/env python
"""Mutation testing of the core modules: `make mutation` (docs/testing.md).

For each module in pyproject.toml's `[tool.mutmut.modules]`, mutmut 2 mutates a copy
of the working tree (`.mutants/<module>/`; the tree itself is never touched) and, per
mutant, runs only the tests of that module's selection that execute the mutated
function, fastest first, stopping at the first failure. Which tests execute which
line comes from one coverage run of the selection with a context per test. Then one
row per module: mutants, killed, survived, equivalent (listed in docs/testing.md),
score = killed / (mutants - equivalent); exit 1 when a module is under the threshold.

    scripts/mutation.py [MODULE ...] [--fresh] [--jobs N] [--report]

The subcommands starting with `_` are what the copies run; `pre_mutation` is
mutmut's hook (the copy's mutmut_config.py imports it).
"""

import argparse
import ast
import difflib
import json
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
import time
import tomllib
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".mutants"  # a dot directory: pytest, ruff and the tree walks skip it
TESTING_DOC = ROOT / "docs" / "testing.md"
COPY_MARK = ".mutation-copy"  # the test runner refuses to run anywhere else
TEST_MAP = ".mutation-tests.json"
KEEP = {".mutmut-cache", TEST_MAP}  # what a refreshed copy keeps
HOOK = (
    '"""Written by scripts/mutation.py into its copy of the tree: mutmut\'s hook."""\n'
    "from scripts.mutation import pre_mutation  # noqa: F401\n"
)
KILLED = {"ok_killed", "ok_suspicious", "bad_timeout"}  # a timeout is detected too
PROGRESS_SECONDS = 120


@dataclass(frozen=True)
class Module:
    name: str
    paths: tuple[str, ...]  # files or packages to mutate
    tests: tuple[str, ...]  # the selection its mutants are tested against


def load_config(root: Path = ROOT) -> tuple[float, dict[str, Module]]:
    table = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["mutmut"]
    modules = {
        name: Module(name, tuple(spec["paths_to_mutate"]), tuple(spec["tests"]))
        for name, spec in table["modules"].items()
    }
    return float(table["threshold"]), modules


def source_files(module: Module, root: Path) -> list[str]:
    """The module's .py files, relative to `root`, as mutmut walks them."""
    found = []
    for path in module.paths:
        full = root / path
        if full.is_dir():
            found += [
                str(p.relative_to(root))
                for p in sorted(full.rglob("*.py"))
                if "tests" not in p.relative_to(root).parts
            ]
        else:
            found.append(path)
    return found


def child_env() -> dict[str, str]:
    """What scripts/test.sh runs the tests with: no .env, offline payments."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL")
    }
    env.update(PAYMENTS_USE_STRIPE="0", PYTHONDONTWRITEBYTECODE="1")
    return env


# --- the copy ---------------------------------------------------------------------


def refresh_copy(module: Module, *, fresh: bool) -> Path:
    """Copy the working tree as git sees it (tracked and new files, not ignored ones)
    into .mutants/<module>/, keeping mutmut's cache unless `fresh`."""
    dest = WORK / module.name
    dest.mkdir(parents=True, exist_ok=True)
    for child in dest.iterdir():
        if child.name in KEEP and not fresh:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    for rel in filter(None, listed.split("\0")):
        source = ROOT / rel
        if rel.startswith(".mutants/") or not source.is_file():
            continue  # deleted in the working tree, or a copy
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    (dest / COPY_MARK).write_text("A copy for mutation testing: scripts/mutation.py\n")
    (dest / "mutmut_config.py").write_text(HOOK)
    return dest


# --- which tests execute which line (runs inside the copy) --------------------------


@dataclass
class Statement:
    """A function or method (`unit`), or a module- or class-level statement."""

    first: int
    last: int
    unit: bool
    names: set[str]  # what it defines
    refs: set[str]  # the identifiers and attribute names it mentions


def _identifiers(node: ast.AST) -> set[str]:
    found = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            found.add(child.id)
        elif isinstance(child, ast.Attribute):
            found.add(child.attr)
        elif isinstance(child, ast.alias):
            found.add((child.asname or child.name).split(".")[0])
            found.add(child.name.rsplit(".", 1)[-1])
    return found


def _defined(node: ast.stmt) -> set[str]:
    targets = {
        ast.Assign: lambda n: n.targets,
        ast.AnnAssign: lambda n: [n.target],
        ast.AugAssign: lambda n: [n.target],
    }
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {node.name}
    for kind, get in targets.items():
        if isinstance(node, kind):
            return {
                n.id for t in get(node) for n in ast.walk(t) if isinstance(n, ast.Name)
            }
    return set()


def _statements(tree: ast.Module) -> list[Statement]:
    """Every top-level statement; a class is its header and body statements, its
    methods units of their own."""
    found = []

    def first_line(node):
        return min([node.lineno, *(d.lineno for d in node.decorator_list)])

    def add(node, unit, names):
        first = first_line(node) if hasattr(node, "decorator_list") else node.lineno
        found.append(
            Statement(first, node.end_lineno, unit, names, _identifiers(node) - names)
        )

    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            add(node, True, {node.name})
        elif isinstance(node, ast.ClassDef):
            header_end = node.body[0].lineno - 1
            found.append(
                Statement(first_line(node), header_end, False, {node.name}, set())
            )
            for child in node.body:
                method = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
                add(child, method, {node.name, *_defined(child)})
        else:
            add(node, False, _defined(node))
    return found


def _python_refs(paths) -> dict[str, set[str]]:
    refs = {}
    for path in paths:
        try:
            refs[str(path)] = _identifiers(ast.parse(path.read_text()))
        except (SyntaxError, UnicodeDecodeError):
            continue
    return refs


def map_tests(module_name: str) -> int:
    """Run the module's selection under coverage, one context per test, and write
    TEST_MAP: for each line of the module, the tests to run its mutants against,
    fastest first. Exit status: the selection's.

    A line in a function: the tests that execute that function. A module-level
    line (a table, a constant): the tests that execute a function of the module
    that reads what the line defines (following one definition into the next), and
    every test of a test file that names it; when code outside the module names
    it too, every test that executes any of the module."""
    import coverage
    import pytest

    here = Path.cwd()
    _, modules = load_config(here)
    module = modules[module_name]
    files = source_files(module, here)
    cov = coverage.Coverage(
        data_file=None, include=[str(here / f) for f in files], config_file=False
    )
    durations: dict[str, float] = defaultdict(float)

    class PerTest:
        @pytest.hookimpl(hookwrapper=True)
        def pytest_runtest_protocol(self, item, nextitem):
            cov.switch_context(item.nodeid)
            yield
            cov.switch_context("")

        def pytest_runtest_logreport(self, report):
            durations[report.nodeid] += report.duration

    cov.start()
    try:
        status = pytest.main(["-q", "-p", "no:randomly", *module.tests], [PerTest()])
    finally:
        cov.stop()
    if status != 0:
        return int(status)
    data = cov.get_data()

    statements: dict[str, list[Statement]] = {}
    unit_tests: list[tuple[Statement, set[str]]] = []
    for rel in files:
        contexts = data.contexts_by_lineno(str(here / rel))
        statements[rel] = _statements(ast.parse((here / rel).read_text()))
        for st in statements[rel]:
            if st.unit:
                lines = range(st.first, st.last + 1)
                tests = {c for n in lines for c in contexts.get(n, ()) if c}
                unit_tests.append((st, tests))
    everything = set().union(*(tests for _, tests in unit_tests))
    test_files = {nodeid.split("::")[0] for nodeid in durations}
    tests_of_file = defaultdict(set)
    for nodeid in durations:
        tests_of_file[nodeid.split("::")[0]].add(nodeid)
    test_refs = _python_refs(here / f for f in sorted(test_files))
    ours = {str(here / f) for f in files}
    elsewhere = set().union(
        *_python_refs(
            p
            for p in here.rglob("*.py")
            if str(p) not in ours
            and "tests" not in p.parts
            and "migrations" not in p.parts
            and p.name != "mutmut_config.py"
            and not str(p.relative_to(here)).startswith(("scripts/", "e2e/", "bench/"))
        ).values()
    )
    module_level = [st for sts in statements.values() for st in sts if not st.unit]

    def readers(st: Statement) -> set[str]:
        names, grew = set(st.names), True
        while grew:  # a table built from another: TRANSITIONS → _TABLE
            grew = False
            for other in module_level:
                if other.refs & names and not other.names <= names:
                    names |= other.names
                    grew = True
        tests = set().union(*(t for unit, t in unit_tests if unit.refs & names))
        for path, refs in test_refs.items():
            if refs & names:
                tests |= tests_of_file[str(Path(path).relative_to(here))]
        if not names or names & elsewhere or not tests:
            tests |= everything
        return tests

    sets: list[list[str]] = []
    index: dict[tuple[str, ...], int] = {}

    def set_id(tests) -> int:
        key = tuple(sorted(tests, key=lambda t: (durations.get(t, 0.0), t)))
        if key not in index:
            index[key] = len(sets)
            sets.append(list(key))
        return index[key]

    by_file = {}
    unit_sets = {id(st): set_id(tests) for st, tests in unit_tests}
    fallback = set_id(everything)
    for rel, sts in statements.items():
        lines: dict[int, int] = {}
        for st in sts:
            chosen = unit_sets[id(st)] if st.unit else set_id(readers(st))
            for n in range(st.first, st.last + 1):
                lines.setdefault(n, chosen)
        by_file[rel] = lines
    Path(TEST_MAP).write_text(
        json.dumps({"sets": sets, "files": by_file, "module_level": fallback})
    )
    return 0


_test_map: dict | None = None


def pre_mutation(context) -> None:
    """mutmut's hook: run this mutant against the tests that execute its line's
    function; with none, the mutant survives without a run."""
    global _test_map
    if _test_map is None:
        _test_map = json.loads(Path(TEST_MAP).read_text())
    lines = _test_map["files"].get(context.filename, {})
    chosen = lines.get(str(context.current_line_index + 1), _test_map["module_level"])
    tests = _test_map["sets"][chosen]
    runner = [sys.executable, "scripts/mutation.py"]
    runner += ["_pytest", *tests] if tests else ["_no_tests"]
    context.config.test_command = shlex.join(runner)


def run_pytest(args: list[str]) -> int:
    """The tests of one mutant (or the baseline): 1 when any test fails or the
    mutant breaks collection, 0 when all pass (mutmut counts anything but 1 as a
    survivor). Refuses outside a copy, so a
    `mutmut run` in the working tree stops at its baseline before mutating."""
    if not Path(COPY_MARK).exists():
        print("scripts/mutation.py: mutmut runs only in a copy: use `make mutation`.")
        return 3
    import pytest

    status = int(pytest.main(["-x", "-q", "--no-header", "--tb=line", *args]))
    # 2, 3, 4: a test module, conftest or the collection of a named test broke (the
    # node ids come from a collection of the unmutated tree, so they exist there).
    return 1 if status in (1, 2, 3, 4) else status


# --- one module ---------------------------------------------------------------------


def run_module(module: Module, *, fresh: bool, py: str) -> tuple[float, str]:
    """Copy, map, mutate. Returns the seconds taken and an error ('' when fine)."""
    start = time.monotonic()
    copy = refresh_copy(module, fresh=fresh)
    log = copy / "mutmut.log"
    env = child_env()
    print(f"{module.name}: mapping tests to lines ({' '.join(module.tests)})")
    with log.open("w") as out:
        mapped = subprocess.run(
            [py, "scripts/mutation.py", "_map", module.name],
            cwd=copy,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    if mapped.returncode != 0:
        return time.monotonic() - start, (
            f"the tests fail without any mutation (see {log.relative_to(ROOT)})"
        )
    print(f"{module.name}: mutating {', '.join(module.paths)} (log: {log})")
    mutmut = str(Path(py).with_name("mutmut"))
    command = [
        mutmut,
        "run",
        "--paths-to-mutate",
        ",".join(module.paths),
        "--tests-dir",
        ",".join(module.tests),
        "--runner",
        shlex.join([py, "scripts/mutation.py", "_pytest", *module.tests]),
        "--simple-output",
        "--no-progress",
    ]
    with log.open("a") as out:
        mutating = subprocess.Popen(
            command, cwd=copy, env=env, stdout=out, stderr=subprocess.STDOUT
        )
        while True:
            try:
                status = mutating.wait(timeout=PROGRESS_SECONDS)
                break
            except subprocess.TimeoutExpired:
                print(f"{module.name}: {_progress(copy)}", flush=True)
    seconds = time.monotonic() - start
    leftovers = list(copy.rglob("*.py.bak"))
    if status & 1 or leftovers:
        return seconds, f"mutmut stopped with an error (see {log.relative_to(ROOT)})"
    print(f"{module.name}: done in {seconds / 60:.1f} min")
    return seconds, ""


def _progress(copy: Path) -> str:
    try:
        with sqlite3.connect(copy / ".mutmut-cache", timeout=5) as db:
            counts = dict(db.execute("SELECT status, count(*) FROM Mutant GROUP BY 1"))
    except sqlite3.Error:
        return "running"
    done = sum(n for status, n in counts.items() if status != "untested")
    killed = sum(counts.get(status, 0) for status in KILLED)
    return f"{done}/{sum(counts.values())} mutants tested, {killed} killed"


# --- results ------------------------------------------------------------------------


@dataclass(frozen=True)
class Mutant:
    module: str
    pk: int | None
    filename: str
    line_number: int  # 1-based
    original: str
    mutated: str
    status: str
    tested: bool  # some selected test executes its line


CELL = re.compile(r"(?<!\\)\|")


def equivalents(doc: Path = TESTING_DOC) -> dict[tuple[str, str, str], str]:
    """(file, original line, mutated line) → why, from the table under the
    'Equivalent mutants' heading of docs/testing.md."""
    if not doc.exists():
        return {}
    found, inside = {}, False
    for line in doc.read_text().splitlines():
        if line.startswith("## "):
            inside = line.strip() == "## Equivalent mutants"
            continue
        if not inside or not line.startswith("|"):
            continue
        cells = [c.strip().replace("\\|", "|") for c in CELL.split(line.strip())[1:-1]]
        if len(cells) != 5 or set(cells[0]) <= {"-", ":"} or cells[0] == "module":
            continue
        _, filename, original, mutated, why = (c.strip("`").strip() for c in cells)
        found[(filename, _squash(original), _squash(mutated))] = why
    return found


def _squash(code: str) -> str:
    return " ".join(code.split())


def _changed(source: str, mutated: str, line_number: int) -> tuple[str, str]:
    """The original and mutated text of the lines a mutant changes."""
    before, after = source.split("\n"), mutated.split("\n")
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(
        None, before, after, autojunk=False
    ).get_opcodes():
        if tag != "equal":
            return _squash(" ".join(before[i1:i2])), _squash(" ".join(after[j1:j2]))
    return _squash(before[line_number]), _squash(before[line_number])


def collect(module: Module) -> list[Mutant]:
    """Every current mutant of the module with its status from mutmut's cache
    (`untested` when the cache has none)."""
    from mutmut import Context, list_mutations, mutate

    copy = WORK / module.name
    cache = copy / ".mutmut-cache"
    statuses: dict[tuple[str, str, int, int], tuple[str, int]] = {}
    if cache.exists():
        with sqlite3.connect(cache) as db:
            rows = db.execute(
                'SELECT s.filename, l.line, l.line_number, m."index", m.status, m.id '
                "FROM Mutant m JOIN Line l ON m.line = l.id "
                "JOIN SourceFile s ON l.sourcefile = s.id"
            )
            for filename, text, number, index, status, pk in rows:
                statuses[(filename, text, number, index)] = (status, pk)
    test_map = json.loads((copy / TEST_MAP).read_text())
    mutants = []
    for filename in source_files(module, copy):
        source = (copy / filename).read_text()
        lines = test_map["files"].get(filename, {})
        for mutation_id in list_mutations(Context(source=source, filename=filename)):
            mutated, _ = mutate(
                Context(source=source, filename=filename, mutation_id=mutation_id)
            )
            original, changed = _changed(source, mutated, mutation_id.line_number)
            status, pk = statuses.get(
                (
                    filename,
                    mutation_id.line,
                    mutation_id.line_number,
                    mutation_id.index,
                ),
                ("untested", None),
            )
            chosen = lines.get(
                str(mutation_id.line_number + 1), test_map["module_level"]
            )
            mutants.append(
                Mutant(
                    module.name,
                    pk,
                    filename,
                    mutation_id.line_number + 1,
                    original,
                    changed,
                    status,
                    bool(test_map["sets"][chosen]),
                )
            )
    return mutants


@dataclass(frozen=True)
class Score:
    module: str
    mutants: int
    killed: int
    survived: int
    equivalent: int

    @property
    def score(self) -> float:
        judged = self.mutants - self.equivalent
        return 100.0 * self.killed / judged if judged else 100.0


def _table(scores: list[Score]) -> list[str]:
    widths = (12, 9, 8, 10, 12, 9)
    names = ("module", "mutants", "killed", "survived", "equivalent", "score")
    lines = [
        "".join(
            f"{n:<{w}}" if i == 0 else f"{n:>{w}}"
            for i, (n, w) in enumerate(zip(names, widths, strict=True))
        )
    ]
    for s in scores:
        cells = (s.module, s.mutants, s.killed, s.survived, s.equivalent)
        row = f"{cells[0]:<12}" + "".join(
            f"{c:>{w}}" for c, w in zip(cells[1:], widths[1:], strict=False)
        )
        lines.append(f"{row}{s.score:>8.1f}%")
    return lines


def _survivor(m: Mutant) -> list[str]:
    note = "" if m.tested else "  [no selected test executes this line]"
    ident = f"#{m.pk} " if m.pk else ""
    return [
        f"  {m.module} {ident}{m.filename}:{m.line_number}{note}",
        f"      - {m.original}",
        f"      + {m.mutated}",
    ]


def report(modules: list[Module], threshold: float, seconds: dict[str, float]) -> int:
    """Print the table and the unlisted survivors; 1 when a module is under the
    threshold or was not run."""
    listed = equivalents()
    used: set[tuple[str, str, str]] = set()
    scores, survivors, warnings = [], [], []
    for module in modules:
        if not (WORK / module.name / TEST_MAP).exists():
            warnings.append(f"{module.name}: never run")
            continue
        mutants = collect(module)
        equivalent = []
        for m in mutants:
            key = (m.filename, m.original, m.mutated)
            if key not in listed:
                continue
            used.add(key)
            if m.status in KILLED:
                warnings.append(
                    "listed as equivalent in docs/testing.md but killed: "
                    f"{m.filename}:{m.line_number} {m.mutated}"
                )
            else:
                equivalent.append(m)
        alive = [m for m in mutants if m.status not in KILLED and m not in equivalent]
        survivors += alive
        untested = sum(m.status == "untested" for m in mutants)
        if untested:
            warnings.append(f"{module.name}: {untested} mutants not run yet")
        killed = sum(m.status in KILLED for m in mutants)
        scores.append(
            Score(module.name, len(mutants), killed, len(alive), len(equivalent))
        )
    ours = {f for m in modules for f in source_files(m, ROOT)}
    warnings += [
        f"docs/testing.md lists a mutant that no longer exists: {key[0]}: {key[2]}"
        for key in sorted(set(listed) - used)
        if key[0] in ours
    ]
    print("", *_table(scores), sep="\n")
    if seconds:
        each = ", ".join(f"{k} {v / 60:.1f}" for k, v in seconds.items())
        print(f"\nminutes per module (two at a time): {each}")
    if survivors:
        print(
            "\nsurviving mutants: kill each with a test, or list it in docs/testing.md"
        )
        for m in survivors:
            print(*_survivor(m), sep="\n")
    for warning in warnings:
        print(f"warning: {warning}")
    WORK.mkdir(exist_ok=True)
    (WORK / "summary.json").write_text(
        json.dumps(
            {
                "scores": [s.__dict__ | {"score": round(s.score, 1)} for s in scores],
                "seconds": seconds,
                "threshold": threshold,
            },
            indent=2,
        )
    )
    low = [s.module for s in scores if s.score < threshold]
    if low or len(scores) < len(modules):
        print(f"\nFAILED: under {threshold:.0f} % or not run: {', '.join(low) or '-'}")
        return 1
    print(f"\nok: every module kills at least {threshold:.0f} % of its mutants")
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["_map"]:
        return map_tests(argv[1])
    if argv[:1] == ["_pytest"]:
        return run_pytest(argv[1:])
    if argv[:1] == ["_no_tests"]:
        print("no selected test executes this line: the mutant survives")
        return 0
    threshold, modules = load_config()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help=f"any of {', '.join(modules)}")
    parser.add_argument("--fresh", action="store_true", help="forget cached results")
    parser.add_argument("--jobs", type=int, default=2, help="modules at once (cores)")
    parser.add_argument("--report", action="store_true", help="only print the table")
    args = parser.parse_args(argv)
    unknown = set(args.modules) - set(modules)
    if unknown:
        parser.error(f"unknown module(s) {', '.join(sorted(unknown))}")
    chosen = [modules[name] for name in args.modules or modules]
    seconds: dict[str, float] = {}
    errors = []
    if not args.report:
        py = sys.executable

        def one(module):
            taken, error = run_module(module, fresh=args.fresh, py=py)
            seconds[module.name] = taken
            if error:
                errors.append(f"{module.name}: {error}")
                print(f"{module.name}: {error}")

        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            list(pool.map(one, chosen))
    status = report(chosen, threshold, seconds)
    for error in errors:
        print(f"error: {error}")
    return 1 if errors else status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
