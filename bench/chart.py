"""The time-vs-rows chart of a results.json: ``cdp import`` end to end and DuckDB's floor (reading
the same CSV into a table) at each size of the growth series (100k, 1M, 3M rows), and the
hand-written DuckDB import (bench/baseline.sql) of the main file.

    .venv/bin/python bench/chart.py [bench/results.json] [bench/time_vs_rows.png]
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
SERIES = {
    "cdp import (Dagster, end to end)": re.compile(r"import_(\d+[kM]?)_utf8$"),
    "DuckDB floor (read_csv into a table)": re.compile(r"duckdb_floor_(\d+[kM]?)$"),
    "hand-written DuckDB import (baseline.sql)": re.compile(r"handwritten_duckdb_(\d+[kM]?)$"),
}


def _points(results: dict, pattern: re.Pattern) -> list[tuple[int, float, bool]]:
    """(rows, seconds, succeeded) of the cases whose name matches."""
    points = [
        (case["rows"], case["seconds"], case.get("ok", True))
        for case in results["cases"]
        if pattern.match(case["name"]) and case["seconds"] is not None
    ]
    return sorted(points)


def make(results: dict, target: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=110)
    for label, pattern in SERIES.items():
        points = _points(results, pattern)
        if not points:
            continue
        rows, seconds, _ = zip(*points, strict=True)
        (line,) = axes.plot(rows, seconds, marker="o", label=label)
        for x, y, ok in points:
            if not ok:
                axes.plot([x], [y], marker="x", markersize=12, color="red", linestyle="none")
            text = f"{y:.1f} s" if ok else f"failed after {y:.1f} s"
            axes.annotate(text, (x, y), textcoords="offset points", xytext=(4, 6), fontsize=8, color=line.get_color())
    axes.margins(x=0.2, y=0.15)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel(f"rows in the customer file (base of {results['rows']:,} customers)")
    axes.set_ylabel("seconds")
    machine = results.get("machine", {})
    axes.set_title(f"Customer import time vs rows ({machine.get('cores', '?')} cores, "
                   f"{machine.get('memory_gib', '?')} GiB){' — smoke' if results.get('smoke') else ''}")  # fmt: skip
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target)
    plt.close(figure)
    return target


if __name__ == "__main__":
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else BENCH / "results.json"
    target = Path(sys.argv[2]) if len(sys.argv) > 2 else BENCH / "time_vs_rows.png"
    print(make(json.loads(source.read_text(encoding="utf-8")), target))
