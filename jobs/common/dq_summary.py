"""A readable summary of ``dq_results`` per feed, read straight from the lake with DuckDB."""

from pathlib import Path

import duckdb

from jobs.common.config import Paths

ROW_CHECKS = ("rows_received", "rows_staged", "duplicates", "late_rows", "files", "files_rejected",
              "rows_unaccounted")


def dq_table(paths: Paths) -> list[dict]:
    """One dict per feed: days, the summed row checks, quarantined rows, failed checks."""
    root = Path(paths.lake) / "dq_results"
    if not root.exists():
        return []
    con = duckdb.connect()
    rel = con.execute(
        "SELECT feed_or_table AS feed, ds, check_name, value, status FROM read_parquet(?, hive_partitioning=true)",
        [str(root / "**" / "*.parquet")])
    rows = rel.fetchall()
    out: dict[str, dict] = {}
    for feed, ds, check, value, status in rows:
        f = out.setdefault(feed, {"feed": feed, "days": set(), "quarantined": 0.0, "failed_checks": 0,
                                  **{c: 0.0 for c in ROW_CHECKS}})
        f["days"].add(ds)
        if check in ROW_CHECKS and value is not None:
            f[check] += value
        elif check.startswith("quarantined_") and value is not None:
            f["quarantined"] += value
        if status == "fail":
            f["failed_checks"] += 1
    for f in out.values():
        f["days"] = len(f["days"])
    return sorted(out.values(), key=lambda f: f["feed"])


def dq_text(paths: Paths) -> str:
    table = dq_table(paths)
    if not table:
        return "dq_results: empty (nothing ingested yet)"
    head = (f"{'feed':<20}{'days':>6}{'received':>13}{'staged':>13}{'duplicates':>11}"
            f"{'quarantined':>12}{'late':>9}{'rejected files':>15}{'unaccounted':>12}{'failed checks':>14}")
    lines = ["Data quality (dq_results):", head]
    for f in table:
        lines.append(f"{f['feed']:<20}{f['days']:>6}{f['rows_received']:>13,.0f}{f['rows_staged']:>13,.0f}"
                     f"{f['duplicates']:>11,.0f}{f['quarantined']:>12,.0f}{f['late_rows']:>9,.0f}"
                     f"{f['files_rejected']:>15,.0f}{f['rows_unaccounted']:>12,.0f}{f['failed_checks']:>14}")
    return "\n".join(lines)
