"""docs/performance.md is the report of the results file it names, nothing else."""

import json
import re
from pathlib import Path

from bench import report

ROOT = Path(__file__).resolve().parents[2]


def test_the_performance_page_is_the_report_of_its_results_file():
    page = (ROOT / "docs" / "performance.md").read_text()
    source = re.search(r"\[`(bench/results/[^`]+\.json)`\]", page).group(1)
    result = json.loads((ROOT / source).read_text())
    assert page == report.render(result, source)
    assert result["orders"] == 1_000_000 and not result["failures"]


def test_the_report_marks_a_missed_goal():
    result = {
        "command": "python bench/run.py",
        "date": "2026-11-23",
        "commit": "abc",
        "seconds": 1,
        "failures": [],
        "machine": {"cpu": "", "cores": 2, "memory_gib": 24, "postgresql": "15",
                    "python": "3.11"},
        "benchmarks": {
            "B3": {"view_rows_per_second": 100, "limit_rows_per_second": 1000,
                   "rows": 10, "bytes": 1000, "worker_peak_rss_mb": 80,
                   "ratio": 0.1, "goal_ratio": 0.7, "goal_rss_mb": 150},
        },
    }  # fmt: skip
    page = report.render(result, "bench/results/x.json")
    assert ">= 0.7: **missed**; RSS <= 150 MB: met" in page
