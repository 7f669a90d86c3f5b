"""No import circle, and every import points down ARCHITECTURE.md's list of apps.

Every project .py file is parsed (not imported) with `ast`; migrations are left
out (they name apps by label in their dependencies, and their models are frozen
copies). Two kinds of edge are collected, wherever they sit in a file (module
level, inside a function, under `if TYPE_CHECKING`):

- imports: `import x`, `from x import y` (relative ones resolved), and
  `importlib.import_module("x")` / `__import__("x")` with a literal name;
- references, which import nothing yet depend on the other module: a Celery task
  published by name (`send_task("payments.process_stripe_event")`, `signature`),
  resolved to the module that declares it, and a model named by its label
  (`ForeignKey("catalog.Variant")`, `apps.get_model("catalog", "Variant")`).

The direction check reads both. The cycle check reads imports only: a name is
looked up when it is used, so it cannot close an import circle (publishing a task
by name is how the inbox avoids one).

`from a.b import c` counts as importing a.b.c when c is a module, else a.b; the
parent packages Python also runs first are not counted, or every package whose
`__init__` gathers its submodules (payments.handlers) would be a circle.
"""

import ast
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# ARCHITECTURE.md, "Apps and the direction of imports": an app may import the apps
# listed above it, never one below.
LAYERS = (
    "core",
    "audit",
    "accounts",
    "catalog",
    "orders",
    "payments",
    "subscriptions",
    "wishlist",
    "analyticsapp",
    "monitoring",
)
# The project around the apps may import anything; no app imports them.
FREE = ("purelaka", "demo", "bench", "scripts", "e2e", "conftest", "manage")
SKIPPED_DIRS = {"node_modules", "static", "staticfiles", "migrations"}
RELATIONS = {"ForeignKey", "OneToOneField", "ManyToManyField"}
TASK_DECORATORS = {"shared_task", "task"}
# Imports against the list that stay for now, each with its reason. Keep it short:
# test_every_allowed_exception_is_still_needed fails once one has gone.
# Imports against the app order that are accepted for a stated reason (none now);
# a test fails when an entry is no longer needed.
ALLOWED: set[tuple[str, str]] = set()


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    kind: str = "import"  # or "reference"

    def __str__(self):
        via = "" if self.kind == "import" else " (by name)"
        return f"{self.source}:{self.line} -> {self.target}{via}"


def project_modules(root: Path = ROOT) -> dict[str, Path]:
    """Every project .py file by its dotted module name."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        folders = relative.parts[:-1]
        # Hidden folders are tools' copies (.venv, .git, a mutation run's .mutants).
        if SKIPPED_DIRS & set(folders) or any(f.startswith(".") for f in folders):
            continue
        parts = list(relative.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if parts:
            modules[".".join(parts)] = path
    return modules


def _resolve(name: str, modules) -> str | None:
    """The project module `name` imports: itself or its longest known prefix."""
    parts = name.split(".")
    while parts:
        if ".".join(parts) in modules:
            return ".".join(parts)
        parts.pop()
    return None


def _call_name(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _text(node, constants) -> str | None:
    """A literal string, or a module-level constant naming one."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    return None


def _first_text(call: ast.Call, keyword: str, constants) -> str | None:
    if call.args:
        return _text(call.args[0], constants)
    for kw in call.keywords:
        if kw.arg == keyword:
            return _text(kw.value, constants)
    return None


def _constants(tree: ast.Module) -> dict[str, str]:
    """The module-level `NAME = "text"` assignments."""
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and _text(node.value, {}) is not None:
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found[target.id] = node.value.value
    return found


def _imported_constants(module, tree, modules, constants, is_package) -> None:
    """Add the string constants `module` imports by name from other modules."""
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            source = _resolve(_base_of(node, module, is_package), modules)
            for alias in node.names:
                if alias.name in constants.get(source, {}):
                    constants[module][alias.asname or alias.name] = constants[source][
                        alias.name
                    ]


def _declared_tasks(module: str, tree: ast.Module, constants) -> dict[str, str]:
    """The Celery task names this module declares (explicit or Celery's default)."""
    tasks = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for decorator in node.decorator_list:
            call = decorator if isinstance(decorator, ast.Call) else None
            target = call.func if call else decorator
            name = getattr(target, "attr", getattr(target, "id", ""))
            if name not in TASK_DECORATORS:
                continue
            explicit = _first_text(call, "name", constants) if call else None
            tasks[explicit or f"{module}.{node.name}"] = module
    return tasks


def _base_of(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    package = package[: len(package) - (node.level - 1)]
    return ".".join([*package, *([node.module] if node.module else [])])


def collect_edges(modules: dict[str, Path]) -> list[Edge]:
    """Every import and reference between project modules (see the docstring)."""
    trees, constants, tasks = {}, {}, {}
    for module, path in modules.items():
        trees[module] = ast.parse(path.read_text(encoding="utf-8"), str(path))
        constants[module] = _constants(trees[module])
    for module, tree in trees.items():
        is_package = modules[module].name == "__init__.py"
        _imported_constants(module, tree, modules, constants, is_package)
        tasks.update(_declared_tasks(module, tree, constants[module]))
    edges = set()
    for module, tree in trees.items():
        is_package = modules[module].name == "__init__.py"

        def add(target, node, kind="import", module=module):
            if target and target != module:
                edges.add(Edge(module, target, node.lineno, kind))

        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    add(_resolve(alias.name, modules), node)
            elif isinstance(node, ast.ImportFrom):
                base = _base_of(node, module, is_package)
                for alias in node.names:
                    child = f"{base}.{alias.name}"
                    add(child if child in modules else _resolve(base, modules), node)
            elif isinstance(node, ast.Call):
                _call_edges(node, add, modules, constants[module], tasks)
    return sorted(edges, key=lambda e: (e.source, e.line, e.target))


def _call_edges(call: ast.Call, add, modules, constants, tasks) -> None:
    name = _call_name(call)
    if name in ("import_module", "__import__"):
        target = _first_text(call, "name", constants)
        add(target and _resolve(target, modules), call)
    elif name in ("send_task", "signature"):
        task = _first_text(call, "name", constants)
        add(tasks.get(task or ""), call, "reference")
    elif name in RELATIONS or name == "get_model":
        label = _first_text(call, "to", constants) or ""
        if name == "get_model" and len(call.args) == 2:
            label = f"{label}.{_text(call.args[1], constants)}"
        app, dot, _model = label.partition(".")
        if dot and f"{app}.models" in modules:
            add(f"{app}.models", call, "reference")


def import_cycles(edges: list[Edge]) -> list[list[str]]:
    """One circle of imports (its modules, the first repeated at the end) for each
    group of modules that import one another (Tarjan's strongly connected
    components); references are not imports and close no circle."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        if edge.kind == "import":
            graph.setdefault(edge.source, set()).add(edge.target)
            graph.setdefault(edge.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for child in sorted(graph[node]):
            if child not in index:
                visit(child)
                low[node] = min(low[node], low[child])
            elif child in on_stack:
                low[node] = min(low[node], index[child])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_circle(graph, group) for group in groups]


def _circle(graph, group: set[str]) -> list[str]:
    """A path from the group's first module back to itself, inside the group."""
    start = min(group)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for child in sorted(graph[node] & group):
            if child == start:
                return [*paths[node], start]
            if child not in paths:
                paths[child] = [*paths[node], child]
                queue.append(child)
    raise AssertionError(f"no circle through {start}")  # pragma: no cover


def _app(module: str) -> str:
    return module.split(".")[0]


def _is_free(module: str) -> bool:
    """The project around the apps, and every test (a test may import any app's
    factories and models to set up what it checks)."""
    return _app(module) in FREE or "tests" in module.split(".")


def wrong_way(edges: list[Edge]) -> list[Edge]:
    """The edges from an app to one listed below it, or to the project around the
    apps (settings, urls, demo...)."""
    wrong = []
    for edge in edges:
        source, target = _app(edge.source), _app(edge.target)
        # An unplaced package is test_every_project_package_is_placed's to report.
        if _is_free(edge.source) or source == target or source not in LAYERS:
            continue
        if target not in LAYERS or LAYERS.index(target) > LAYERS.index(source):
            wrong.append(edge)
    return wrong


@cache
def _project_edges() -> tuple[Edge, ...]:
    return tuple(collect_edges(project_modules()))


# --- the project -------------------------------------------------------------------


def test_every_project_package_is_placed_in_the_app_list():
    tops = {_app(module) for module in project_modules()}
    assert set(LAYERS) <= tops
    assert not tops - set(LAYERS) - set(FREE), (
        "a top-level package missing from ARCHITECTURE.md's list of apps"
    )


def test_the_project_has_no_import_cycle():
    cycles = import_cycles(_project_edges())
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_every_import_points_down_the_app_list():
    wrong = [
        edge
        for edge in wrong_way(_project_edges())
        if (edge.source, edge.target) not in ALLOWED
    ]
    assert not wrong, "imports against ARCHITECTURE.md's app order:\n" + "\n".join(
        map(str, wrong)
    )


def test_every_allowed_exception_is_still_needed():
    found = {(edge.source, edge.target) for edge in wrong_way(_project_edges())}
    assert not ALLOWED - found, "an allowed import is gone: drop it from ALLOWED"


def test_the_graph_holds_imports_and_references_from_the_real_files():
    edges = set(_project_edges())
    pairs = {(e.source, e.target, e.kind) for e in edges}
    assert ("payments.webhook", "payments.services.inbox", "import") in pairs
    assert ("payments.tasks", "payments.services.inbox", "import") in pairs
    # Queue mode publishes the task by name: a reference, never an import.
    assert ("payments.services.inbox", "payments.tasks", "reference") in pairs
    assert ("payments.services.inbox", "payments.tasks", "import") not in pairs
    assert ("subscriptions.models", "catalog.models", "reference") in pairs


# --- the checks themselves bite ----------------------------------------------------


def test_the_checks_report_a_cycle_and_a_wrong_way_import():
    edges = [
        Edge("payments.webhook", "payments.services.inbox", 3),
        Edge("payments.services.inbox", "payments.tasks", 9),
        Edge("payments.tasks", "payments.webhook", 5),
        Edge("payments.services.importing", "analyticsapp.services.snapshots", 21),
        Edge("core.context", "purelaka", 4),
        Edge("analyticsapp.kpis", "payments.models", 2),  # down the list: fine
        Edge("accounts.tests.test_x", "monitoring.models", 1),  # a test: fine
        Edge("catalog.models", "wishlist.models", 7, "reference"),  # by label
        Edge("orders.services", "payments.tasks", 8, "reference"),  # by task name
        Edge("payments.tasks", "orders.services", 1),
    ]

    assert import_cycles(edges) == [
        [
            "payments.services.inbox",
            "payments.tasks",
            "payments.webhook",
            "payments.services.inbox",
        ]
    ]
    assert [str(e) for e in wrong_way(edges)] == [
        "payments.services.importing:21 -> analyticsapp.services.snapshots",
        "core.context:4 -> purelaka",
        "catalog.models:7 -> wishlist.models (by name)",
        "orders.services:8 -> payments.tasks (by name)",
    ]


def test_the_collector_sees_function_level_dynamic_and_by_name_imports(tmp_path):
    files = {
        "core/__init__.py": "",
        "core/money.py": "def f():\n    from orders import services\n",
        "orders/__init__.py": "",
        "orders/models.py": (
            "from django.db import models\n"
            "class Line(models.Model):\n"
            '    variant = models.ForeignKey("catalog.Variant", on_delete=1)\n'
        ),
        "orders/services.py": (
            "import importlib\n"
            "from . import models\n"
            'TASK = "orders.expire"\n'
            "def later():\n"
            '    importlib.import_module("core.money")\n'
            "    current_app.send_task(TASK, args=[1])\n"
        ),
        "orders/tasks.py": (
            "from celery import shared_task\n"
            "from orders.services import TASK\n"
            "@shared_task(name=TASK)\n"
            "def expire(): ...\n"
        ),
        "catalog/__init__.py": "",
        "catalog/models.py": "",
        "orders/migrations/0001_initial.py": "import payments\n",
    }
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    edges = collect_edges(project_modules(tmp_path))

    assert {(e.source, e.target, e.kind) for e in edges} == {
        ("core.money", "orders.services", "import"),
        ("orders.models", "catalog.models", "reference"),
        ("orders.services", "orders.models", "import"),
        ("orders.services", "core.money", "import"),
        ("orders.services", "orders.tasks", "reference"),
        ("orders.tasks", "orders.services", "import"),
    }
    assert import_cycles(edges) == [["core.money", "orders.services", "core.money"]]
    assert [str(e) for e in wrong_way(edges)] == ["core.money:2 -> orders.services"]
