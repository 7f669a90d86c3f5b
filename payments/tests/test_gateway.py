"""The gateway package: the names the project imports from it, and the direction of
its imports (the offline gateway delivers through the webhook, never the reverse)."""

import ast
from pathlib import Path

import payments.gateway
from payments.gateway import offline, stripe_api
from payments.gateway.checkout_session import CheckoutSession
from payments.gateway.guard import NetworkCallInTransaction

ROOT = Path(__file__).resolve().parents[2]
FIRST_PARTY = {
    "purelaka", "core", "audit", "accounts", "catalog", "orders", "payments",
    "subscriptions", "wishlist", "analyticsapp", "monitoring", "demo",
}  # fmt: skip


def _source(module: str) -> Path | None:
    path = ROOT.joinpath(*module.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(start: str) -> set[str]:
    """Every first-party module that importing `start` may import, read from the
    source: function-level imports count too, so a deferred import cannot hide
    a dependency."""
    seen, todo = set(), [start]
    while todo:
        module = todo.pop()
        source = _source(module) if module.split(".")[0] in FIRST_PARTY else None
        if module in seen or source is None:
            continue
        seen.add(module)
        parts = module.split(".")
        todo += [".".join(parts[:n]) for n in range(1, len(parts))]  # its packages
        for node in ast.walk(ast.parse(source.read_text(), filename=str(source))):
            if isinstance(node, ast.Import):
                todo += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                package = parts if source.name == "__init__.py" else parts[:-1]
                base = package[: len(package) - node.level + 1] if node.level else []
                name = ".".join([*base, node.module])
                todo += [name] + [f"{name}.{alias.name}" for alias in node.names]
    return seen


def test_the_project_imports_the_gateway_from_the_package():
    assert payments.gateway.StripeGateway is stripe_api.StripeGateway
    for name in ("OfflineGateway", "sign", "period_end", "event_envelope", "deliver"):
        assert getattr(payments.gateway, name) is getattr(offline, name), name
    assert payments.gateway.CheckoutSession is CheckoutSession
    assert payments.gateway.NetworkCallInTransaction is NetworkCallInTransaction
    assert callable(payments.gateway.get_gateway)


def test_the_webhook_never_imports_the_gateway():
    assert "payments.gateway.offline" in imported_modules("payments.views")
    assert "payments.webhook" in imported_modules("payments.gateway")
    reached = imported_modules("payments.webhook")
    assert "payments.handlers" in reached
    assert not {m for m in reached if m.startswith("payments.gateway")}
