"""B2: the executive dashboard's server time at a small and a large history.

Each of the three windows (7, 30 and 90 days) is requested by a signed-in analyst
through Django's full stack in-process (middleware, access policy, view, template),
so the time is the server's, without the network. The first request after a
snapshot build computes the window KPIs (reported as `cold`); later ones find them
cached until the next build. The goals hold on the warm requests: p95 at the large
history within 1.2x the small one's and under 50 ms, with the same SQL query count.
"""

import statistics
import time

GOAL_RATIO = 1.2
GOAL_P95_MS = 50.0
WINDOWS = (7, 30, 90)
WARM_REQUESTS = 30


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


def measure(*, log=print) -> dict:
    from django.core.cache import cache
    from django.db import connection
    from django.urls import reverse

    from orders.models import Order

    cache.clear()
    client = _client()
    url = reverse("analyticsapp:dashboard")
    orders = Order.objects.count()
    out = {"orders": orders, "windows": {}}
    for days in WINDOWS:
        started = time.perf_counter()
        response = client.get(url, {"days": days})
        cold = (time.perf_counter() - started) * 1000
        assert response.status_code == 200, response.status_code
        queries = []

        def count(execute, sql, params, many, context, queries=queries):
            queries.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):
            client.get(url, {"days": days})
        times = []
        for _ in range(WARM_REQUESTS):
            started = time.perf_counter()
            client.get(url, {"days": days})
            times.append((time.perf_counter() - started) * 1000)
        out["windows"][days] = {
            "cold_ms": round(cold, 1),
            "p50_ms": round(statistics.median(times), 2),
            "p95_ms": round(_percentile(times, 95), 2),
            "queries": len(queries),
        }
        log(f"[B2]   {orders:,} orders, {days}-day window: {out['windows'][days]}")
    return out


def compare(small: dict, large: dict, small_orders: int, large_orders: int) -> dict:
    windows = {}
    for days in WINDOWS:
        s, la = small["windows"][days], large["windows"][days]
        windows[days] = {
            "small": s,
            "large": la,
            "p95_ratio": round(la["p95_ms"] / s["p95_ms"], 3),
            "same_queries": s["queries"] == la["queries"],
        }
    worst_ratio = max(w["p95_ratio"] for w in windows.values())
    worst_p95 = max(w["large"]["p95_ms"] for w in windows.values())
    same = all(w["same_queries"] for w in windows.values())
    return {
        "small_orders": small_orders,
        "large_orders": large_orders,
        "windows": windows,
        "worst_p95_ratio": worst_ratio,
        "goal_ratio": GOAL_RATIO,
        "worst_large_p95_ms": worst_p95,
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
