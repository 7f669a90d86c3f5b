"""B2: the executive dashboard's server time at a small and a large history.

Each of the three windows (7, 30, 90 days) is requested by a signed-in analyst
through Django's full stack in-process (middleware, access policy, view, template),
so the time is the server's, without the network. The first request after a
snapshot build computes the window KPIs (reported as `cold`); later ones find them
cached until the next build. The two shops are measured in alternating rounds, so a
stall of the shared machine (autovacuum, another process) weighs on both alike. The
goals hold on the warm requests: p95 at the large history within 1.2x the small
one's and under 50 ms, with the same SQL query count.
"""

import statistics
import time

GOAL_RATIO = 1.2
GOAL_P95_MS = 50.0
WINDOWS = (7, 30, 90)
ROUNDS = 5
PER_ROUND = 20  # requests per window, shop and round: 100 per window and shop


def _client():
    from django.test import Client

    from accounts.models import User
    from accounts.roles import Role
    from accounts.services import user_create

    email = "analyst-b2@bench.test"
    user = User.objects.filter(email=email).first() or user_create(
        email=email, password=None, roles=[Role.ANALYST]
    )
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    return client


def _percentile(values, pct):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def _get(client, url, days) -> float:
    started = time.perf_counter()
    response = client.get(url, {"days": days})
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"B2: the dashboard answered {response.status_code}")
    return elapsed


def _query_count(client, url, days) -> int:
    from django.db import connection

    queries = []

    def count(execute, sql, params, many, context, queries=queries):
        queries.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        _get(client, url, days)
    return len(queries)


def run(*, large: str, small: str, large_orders: int, small_orders: int, use_database,
        log=print) -> dict:  # fmt: skip
    """Measure both shops (databases `large` and `small`, snapshots built)."""
    from django.core.cache import cache
    from django.urls import reverse

    url = reverse("analyticsapp:dashboard")
    cache.clear()
    shops = {"large": large, "small": small}
    clients, cold, queries = {}, {}, {}
    for name, database in shops.items():
        use_database(database)
        clients[name] = _client()
        cold[name] = {d: _get(clients[name], url, d) for d in WINDOWS}
        queries[name] = {d: _query_count(clients[name], url, d) for d in WINDOWS}
    times = {name: {d: [] for d in WINDOWS} for name in shops}
    for r in range(ROUNDS):
        for name, database in shops.items():
            use_database(database)
            _get(clients[name], url, WINDOWS[0])  # a new connection: not timed
            for days in WINDOWS:
                times[name][days] += [
                    _get(clients[name], url, days) for _ in range(PER_ROUND)
                ]
        log(f"[B2]   round {r + 1}/{ROUNDS} done")
    use_database(large)
    windows = {}
    for days in WINDOWS:
        stats = {
            name: {
                "cold_ms": round(cold[name][days], 1),
                "p50_ms": round(statistics.median(times[name][days]), 2),
                "p95_ms": round(_percentile(times[name][days], 95), 2),
                "requests": len(times[name][days]),
                "queries": queries[name][days],
            }
            for name in shops
        }
        windows[days] = {
            **stats,
            "p95_ratio": round(stats["large"]["p95_ms"] / stats["small"]["p95_ms"], 3),
            "same_queries": stats["large"]["queries"] == stats["small"]["queries"],
        }
        log(f"[B2]   {days}-day window: {windows[days]}")
    same = all(w["same_queries"] for w in windows.values())
    return {
        "small_orders": small_orders,
        "large_orders": large_orders,
        "windows": windows,
        "worst_p95_ratio": max(w["p95_ratio"] for w in windows.values()),
        "goal_ratio": GOAL_RATIO,
        "worst_large_p95_ms": max(w["large"]["p95_ms"] for w in windows.values()),
        "goal_p95_ms": GOAL_P95_MS,
        "invariants": {"same_query_count": same, "ok": same},
    }


def summary(b2: dict) -> str:
    return (
        f"[B2] executive dashboard: worst p95 {b2['worst_large_p95_ms']:.1f} ms at "
        f"{b2['large_orders']:,} orders (goal <= {GOAL_P95_MS:.0f}); worst p95 ratio "
        f"{b2['worst_p95_ratio']:.2f} vs {b2['small_orders']:,} orders (goal <= "
        f"{GOAL_RATIO}); same query count: {b2['invariants']['same_query_count']}"
    )
