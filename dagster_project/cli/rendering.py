"""What ``cdp`` prints: a report as one JSON object or as lines for a person, and query results,
with every mobile, email and openid in a printed value masked unless asked otherwise."""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

SQL_CELL_WIDTH = 60

# Issue 4's JSON keys of a Tmall import, first in its report.
TMALL_KEYS = (
    "batch_id",
    "status",
    "orders_scanned",
    "orders_imported",
    "orders_failed",
    "items_imported",
    "customers_created",
    "customers_matched",
    "failure_file",
)


def print_report(report: dict, as_json: bool, describe: Callable[[dict], str]) -> None:
    if as_json:
        print(json.dumps(report, ensure_ascii=False, default=str))
    else:
        print(describe(report))


def describe_import(s: dict) -> str:
    lines = [
        f"{s.get('file_name', '')}: {s['status']} (batch {s['batch_id']})",
        f"  scanned {s['scanned']} = created {s['created']} + updated {s['updated']} "
        f"+ failed {s['failed']} + skipped {s['skipped']}"
        + (f" (unchanged {s['unchanged']})" if s.get("unchanged") is not None else ""),
    ]
    if s.get("failure_file"):
        lines.append(f"  failure file: {s['failure_file']}")
    if s.get("refused_columns"):
        lines.append(f"  refused columns (not importable): {', '.join(s['refused_columns'])}")
    if s.get("unknown_columns"):
        lines.append(f"  unknown columns (ignored): {', '.join(s['unknown_columns'])}")
    return "\n".join(lines)


def describe_dry_run(r: dict) -> str:
    lines = [
        f"{r['file_name']}: dry run, nothing written",
        f"  scanned {r['scanned']} = empty {r['empty']} + duplicate {r['duplicate']} + invalid {r['invalid']} "
        f"+ expected {r['expected']} (create {r['would_create']}, update {r['would_update']})",
    ]
    lines += [f"  {code}: {count}" for code, count in r["reasons"].items()]
    if r["refused_columns"]:
        lines.append(f"  refused columns: {', '.join(r['refused_columns'])}")
    if r["unknown_columns"]:
        lines.append(f"  unknown columns: {', '.join(r['unknown_columns'])}")
    import pandas as pd

    lines.append(pd.DataFrame(r["preview"]).fillna("").to_string(index=False))
    return "\n".join(lines)


def tmall_report(summary: dict) -> dict:
    """Issue 4's JSON keys first, then the rest of the batch's figures."""
    return {**{k: summary.get(k) for k in TMALL_KEYS}, **summary}


def describe_tmall(s: dict) -> str:
    lines = [
        f"{s.get('file_name', '')} + {s.get('items_file_name', '')}: {s['status']} (batch {s['batch_id']})",
        f"  orders: scanned {s['orders_scanned']}, imported {s['orders_imported']}, failed {s['orders_failed']}; "
        f"items imported {s['items_imported']}; customers created {s['customers_created']}, "
        f"matched {s['customers_matched']}",
    ]
    if s.get("failure_file"):
        lines.append(f"  failure file: {s['failure_file']}")
    return "\n".join(lines)


def unsearched_subfolders(entries: list[Path]) -> str:
    """A backfill reads one folder: the subfolders it passes over (exports sorted by year), named
    so that "no export pairs found" is not taken for an empty history."""
    from cdp_pipeline.masking import mask_text

    names = [p.name for p in entries if p.is_dir() and not p.name.startswith(".")]
    return f"subfolders are not searched: {mask_text(', '.join(names))}" if names else ""


def describe_backfill(result: dict, unsearched: str) -> str:
    """A backfill's ``result`` (its JSON object) for a person: each export, then what was not imported."""
    lines = [describe_tmall(r) for r in result["exports"]]
    if unsearched:
        lines.append(unsearched if result["exports"] else f"no export pairs found ({unsearched})")
    elif not result["exports"]:
        lines.append("no export pairs found")
    lines += [f"rejected {item['file']}: {item['reason']}" for item in result["rejected"]]
    lines += [f"no partner for {path}" for path in result["alone"]]
    return "\n".join(lines)


def unique_names(names: list[str]) -> list[str]:
    """Result column names, a repeated one numbered (``a``, ``a_2``) so JSON records keep every column."""
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return unique


def mask_value(value: Any) -> Any:
    """A result cell with every mobile, email and openid in it masked, inside lists and structs
    too; a number that is a mobile (a BIGINT column) becomes its masked text."""
    from cdp_pipeline.masking import mask_text

    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, int) and not isinstance(value, bool):
        masked = mask_text(str(value))
        return value if masked == str(value) else masked
    if isinstance(value, list | tuple):
        return [mask_value(v) for v in value]
    if isinstance(value, dict):
        return {mask_value(k): mask_value(v) for k, v in value.items()}
    return value


def _json_value(value):
    import decimal

    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def print_rows(names: list[str], columns: list[list], as_json: bool) -> None:
    """A query result, given column by column: JSON records, or a table with long cells cut."""
    rows = list(zip(*columns, strict=True)) if columns else []
    if as_json:
        print(json.dumps([dict(zip(names, row, strict=True)) for row in rows], ensure_ascii=False, default=_json_value))
        return
    if not rows:
        print(f"no rows (columns: {', '.join(names)})")
        return
    import pandas as pd

    frame = pd.DataFrame(rows, columns=names, dtype=object).fillna("NULL")
    print(frame.to_string(index=False, max_colwidth=SQL_CELL_WIDTH))
