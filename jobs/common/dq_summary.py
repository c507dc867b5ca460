"""A readable summary of ``dq_results`` per feed, read straight from the lake with DuckDB.

Feeds (ingest) get the row balance; tables (jobs after ingest, whose ``feed_or_table`` is a
table contract) get their own checks summed over days, with warnings and failures counted."""

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


def table_checks(paths: Paths) -> list[tuple]:
    """(table, days, check, summed value, warnings, failures) for checks recorded by jobs on tables."""
    from jobs.common.contracts import all_contracts

    root = Path(paths.lake) / "dq_results"
    tables = [c.name for c in all_contracts() if c.kind == "table"]
    if not root.exists() or not tables:
        return []
    con = duckdb.connect()
    return con.execute(
        "SELECT feed_or_table, count(DISTINCT ds), check_name, sum(value), "
        "count(*) FILTER (WHERE status = 'warn'), count(*) FILTER (WHERE status = 'fail') "
        "FROM read_parquet(?, hive_partitioning=true) WHERE feed_or_table IN (SELECT unnest(?)) "
        "GROUP BY 1, 3 ORDER BY 1, 3", [str(root / "**" / "*.parquet"), tables]).fetchall()


def dq_text(paths: Paths) -> str:
    table = dq_table(paths)
    if not table:
        return "dq_results: empty (nothing ingested yet)"
    head = (f"{'feed':<20}{'days':>6}{'received':>13}{'staged':>13}{'duplicates':>11}"
            f"{'quarantined':>12}{'late':>9}{'rejected files':>15}{'unaccounted':>12}{'failed checks':>14}")
    lines = ["Data quality (dq_results):", head]
    checks = table_checks(paths)
    jobs_tables = {c[0] for c in checks}
    for f in (f for f in table if f["feed"] not in jobs_tables):
        lines.append(f"{f['feed']:<20}{f['days']:>6}{f['rows_received']:>13,.0f}{f['rows_staged']:>13,.0f}"
                     f"{f['duplicates']:>11,.0f}{f['quarantined']:>12,.0f}{f['late_rows']:>9,.0f}"
                     f"{f['files_rejected']:>15,.0f}{f['rows_unaccounted']:>12,.0f}{f['failed_checks']:>14}")
    if checks:
        lines += ["", f"{'table':<30}{'days':>6}  {'check':<36}{'sum over days':>15}{'warn':>6}{'fail':>6}"]
        for table_name, days, check, value, warn, fail in checks:
            shown = "" if value is None else f"{value:,.6g}" if "share" in check else f"{value:,.0f}"
            lines.append(f"{table_name:<30}{days:>6}  {check:<36}{shown:>15}{warn:>6}{fail:>6}")
    return "\n".join(lines)
