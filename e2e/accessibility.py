"""axe-core in the journeys: each main page a person visits is checked as they see it.

axe-playwright-python bundles axe.min.js; it is handed to the page through
Playwright's `evaluate` (the DevTools protocol), which the app's strict
Content-Security-Policy does not govern, so nothing is served from elsewhere and
the policy stays as strict as in production.
"""

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from axe_playwright_python.sync_playwright import Axe

# Violations at these impacts fail the journey; "minor" and "moderate" ones are
# left to the design review.
FAILING_IMPACTS = frozenset({"serious", "critical"})
AXE_OPTIONS = {"resultTypes": ["violations"]}

# Markup Django's own admin renders (not this project's templates), by rule id and a
# marker in the offending node; only under /admin/, only these nodes, so anything
# new on those pages still fails. Checked against Django 5.2's admin.
DJANGO_ADMIN_MARKUP = {
    # SelectFilter2.js (filter_horizontal) puts aria-label on a role-less <span>.
    "aria-prohibited-attr": "search-label-icon",
    # The admin's breadcrumb links differ from their text by colour alone.
    "link-in-text-block": ".breadcrumbs",
}

_axe = Axe()


def _django_admin_markup(page, violation, node) -> bool:
    if not urlsplit(page.url).path.startswith("/admin/"):
        return False
    marker = DJANGO_ADMIN_MARKUP.get(violation["id"])
    where = node["html"] + " " + " ".join(str(t) for t in node["target"])
    return marker is not None and marker in where


def axe_violations(page) -> list[dict]:
    """The serious and critical axe violations of the page as it stands (less the
    nodes of Django's own admin markup listed in DJANGO_ADMIN_MARKUP)."""
    page.wait_for_load_state("load")
    results = _axe.run(page, options=AXE_OPTIONS)
    found = []
    for violation in results.response["violations"]:
        if violation.get("impact") not in FAILING_IMPACTS:
            continue
        nodes = [
            n
            for n in violation["nodes"]
            if not _django_admin_markup(page, violation, n)
        ]
        if nodes:
            found.append({**violation, "nodes": nodes})
    return found


def describe(violations: list[dict]) -> str:
    """Rule id, impact, help (and where to read more), then each offending node."""
    lines = []
    for v in violations:
        lines.append(f"- {v['id']} ({v['impact']}): {v['help']} <{v['helpUrl']}>")
        for node in v["nodes"]:
            target = " ".join(str(t) for t in node["target"])
            lines.append(f"    at {target}: {node['html'][:200]}")
            summary = " ".join((node.get("failureSummary") or "").split())
            if summary:
                lines.append(f"      {summary[:300]}")
    return "\n".join(lines)


@dataclass
class AccessibilityAudit:
    """axe over the pages of one journey: `check` each main page once it shows what
    the journey asserts; `assert_clean` at the end fails with every page's report.

    Collecting first lets a journey run to its end, so one report names every page
    that needs work instead of only the first.
    """

    page: object
    checked: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def check(self, name: str) -> None:
        violations = axe_violations(self.page)
        self.checked.append(name)
        if violations:
            report = f"{name} ({self.page.url}):\n{describe(violations)}"
            print(f"\naxe: {report}")  # shown with -s, and in the failure report
            self.failures.append(report)

    def assert_clean(self) -> None:
        assert self.checked, "no page was checked for accessibility"
        failures, self.failures = self.failures, []
        if failures:
            raise AssertionError(
                f"axe found serious or critical violations on {len(failures)} of "
                f"{len(self.checked)} page(s):\n" + "\n".join(failures)
            )
