"""docs/performance.md, written from a results file of bench/run.py.

    python bench/report.py bench/results/bench-1000000.json > docs/performance.md

A test (core/tests/test_docs.py) holds the page to the results file it names.
"""

import json
import sys
from pathlib import Path


def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def rows(result: dict) -> list[tuple[str, str, str, str, str]]:
    """(benchmark, figure, limit, ratio, goal and verdict) per measured figure."""
    out = []
    b = result["benchmarks"]
    gen = result.get("generator", {})
    if "seconds" in gen:
        total = sum(gen["rows"].values())
        out.append(
            (
                "Generator (COPY)",
                f"{gen['orders']:,} orders, {total:,} rows in {gen['seconds']:.0f} s",
                f"{total / gen['seconds']:,.0f} rows/s",
                "—",
                f"under {gen['goal_seconds']} s: {_met(gen['seconds'] < 300)}; "
                f"checks: {_met(gen['checks']['ok'])}",
            )
        )
    if "B1" in b:
        b1 = b["B1"]
        out.append(
            (
                "B1 snapshot rebuild, every day",
                f"{b1['rebuild_seconds']:.1f} s ({b1['days']} days)",
                f"{b1['limit_seconds']:.1f} s (DELETE + one hand-written statement)",
                f"{b1['ratio']:.2f}",
                f"<= {b1['goal_ratio']}: {_met(b1['ratio'] <= b1['goal_ratio'])}",
            )
        )
        out.append(
            (
                "B1 nightly rebuild, 7 days",
                f"{b1['nightly_median_seconds'] * 1000:.0f} ms (median of 3)",
                "—",
                "—",
                f"< {b1['goal_nightly_seconds']:.0f} s: "
                f"{_met(b1['nightly_median_seconds'] < b1['goal_nightly_seconds'])}",
            )
        )
    if "B2" in b:
        b2 = b["B2"]
        for days, w in b2["windows"].items():
            large, small = w["large"], w["small"]
            out.append(
                (
                    f"B2 executive dashboard, {days}-day window",
                    f"p50 {large['p50_ms']:.1f} ms, p95 {large['p95_ms']:.1f} ms at "
                    f"{b2['large_orders']:,} orders ({large['queries']} queries)",
                    f"p50 {small['p50_ms']:.1f} ms, p95 {small['p95_ms']:.1f} ms at "
                    f"{b2['small_orders']:,} orders ({small['queries']} queries)",
                    f"{w['p95_ratio']:.2f}",
                    f"<= {b2['goal_ratio']} and p95 <= {b2['goal_p95_ms']:.0f} ms: "
                    + _met(
                        w["p95_ratio"] <= b2["goal_ratio"]
                        and w["large"]["p95_ms"] <= b2["goal_p95_ms"]
                    )
                    + f"; same queries: {_met(w['same_queries'])}",
                )
            )
        cold = max(w["large"]["cold_ms"] for w in b2["windows"].values())
        out.append(
            (
                "B2 first request after a build",
                f"{cold:,.0f} ms at {b2['large_orders']:,} orders (computes and "
                "caches every window's KPIs)",
                "—",
                "—",
                "not a goal: the nightly job warms the cache after its build",
            )
        )
    if "B3" in b:
        b3 = b["B3"]
        out.append(
            (
                "B3 orders export through the view",
                f"{b3['view_rows_per_second']:,} rows/s ({b3['rows']:,} rows, "
                f"{b3['bytes'] / 2**20:.0f} MiB); worker peak RSS "
                f"{b3['worker_peak_rss_mb']:.0f} MB",
                f"{b3['limit_rows_per_second']:,} rows/s (psql COPY TO STDOUT)",
                f"{b3['ratio']:.2f}",
                f">= {b3['goal_ratio']}: {_met(b3['ratio'] >= b3['goal_ratio'])}; "
                f"RSS <= {b3['goal_rss_mb']} MB: "
                f"{_met(b3['worker_peak_rss_mb'] <= b3['goal_rss_mb'])}",
            )
        )
    if "B4" in b:
        b4 = b["B4"]
        out.append(
            (
                "B4 webhook ingestion",
                f"{b4['webhook_eps']:,.0f} events/s ({b4['events']:,} signed events, "
                f"{b4['senders']} senders, 1 in 5 a replay); p95 {b4['p95_ms']:.0f} ms",
                f"{b4['healthz_rps']:,.0f} requests/s (/monitoring/healthz/)",
                f"{b4['ratio']:.2f}",
                f">= {b4['goal_ratio']}: {_met(b4['ratio'] >= b4['goal_ratio'])}; "
                f"invariants: {_met(b4['ok'])}",
            )
        )
        if b4.get("processing") == "queue":
            out.append(
                (
                    "B4 events applied by the Celery worker",
                    f"{b4['distinct_events']:,} events applied "
                    f"{b4['drain_seconds_after_burst']:.0f} s after the burst; "
                    f"{b4['applied_eps']:,.0f} events/s from the first request to "
                    "the last applied",
                    "—",
                    "—",
                    "not a goal: the worker shares the two cores with the server",
                )
            )
    return out


NOTES = [
    "## Reading the figures",
    "",
    "- **Set-up**: the databases are PostgreSQL with `random_page_cost = 1.1` (SSD, as "
    "[deployment.md](deployment.md#postgresql-settings) recommends); the generator and "
    "B1 run `VACUUM ANALYZE` where autovacuum would have on a live database.",
    "- **B2** is server time in-process (no network); the first request after a "
    "snapshot build computes the window KPIs, later ones read them from the cache "
    "until the next build.",
    "- **B4** runs the webhook as production does (`STRIPE_WEBHOOK_PROCESSING=queue`): "
    "the server stores and answers, a Celery worker (2 processes) applies the events "
    "during and after the burst; the invariants are checked once all are applied. "
    "Applying each event in the request instead (`python -m bench.b4_webhooks "
    "--processing inline`) cost about 15 ms of server CPU and gave a ratio of 0.09: "
    "[decisions.md](decisions.md) says why the webhook answers first.",
    "- **Generated with the orders**: a Stripe balance transaction per payment and "
    "refund (UK card pricing, as the offline gateway mints them), so B1 builds the "
    "fee columns and the payment-without-balance-transaction check has its rows. "
    "**Not generated**: Stripe events for the history, payouts, audit rows per "
    "order, disputes and subscriptions; the production nightly job rebuilds 31 days "
    "(B1 times the 7 days the goal names).",
    "",
]


def render(result: dict, source: str) -> str:
    m = result["machine"]
    lines = [
        "# Performance",
        "",
        "Written by `bench/report.py` from "
        f"[`{source}`](../{source}); do not edit by hand: run `make bench` and "
        "commit both. Every figure is held against a limit measured on the same "
        "machine in the same run (absolute times drift on a shared machine; ratios "
        "much less). What each benchmark does and why it is built that way: "
        "[bench/README.md](../bench/README.md).",
        "",
        f"- **Run**: `{result['command']}` on {result['date']} (commit "
        f"`{result['commit']}`), {result['seconds']:.0f} s in all.",
        f"- **Machine**: {m['cpu'] or 'unknown CPU'}, {m['cores']} cores, "
        f"{m['memory_gib']} GiB; PostgreSQL {m['postgresql']}; Python {m['python']}.",
        "- **Correctness invariants**: "
        + ("all held." if not result["failures"] else "; ".join(result["failures"])),
        "",
        "| Benchmark | Figure | Limit (same run) | Ratio | Goal |",
        "|---|---|---|---|---|",
    ]
    for row in rows(result):
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", *NOTES]
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python bench/report.py bench/results/FILE.json", file=sys.stderr)
        return 2
    path = Path(argv[0])
    try:
        result = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        print(f"report: cannot read {path}: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(render(result, path.as_posix()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
