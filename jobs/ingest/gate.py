"""The data-quality gate after a feed is staged: thresholds from the city config applied to
what ingest recorded in ``dq_results``.

Reads ``dq_results`` (with DuckDB: ``rows_received`` and ``rows_quarantined`` of the feed) for
the covered days a delivery rebuilt and the days before them; writes nothing. Rules (config
``orchestration.dq_gate``):

- ``rows_vs_trailing_median``: rows received on the day / median of the rows received on up to
  ``trailing_days`` earlier days must lie within [``min_ratio``, ``max_ratio``] (a partial or a
  doubled delivery); not applied with fewer than ``min_history_days`` earlier days, nor to feeds
  outside ``volume_rule_feeds`` (reference snapshots, small daily tables).
- ``quarantine_share``: rows quarantined / rows received must not exceed ``max_quarantine_share``.

``evaluate`` is the pure rule; ``check`` reads the table and raises ``DQGateError`` with one
readable line per failed rule, naming the feed, the day, the rule, the value and the threshold.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from statistics import median

from jobs.common.config import Paths


@dataclass(frozen=True)
class GateResult:
    feed: str
    ds: date
    rule: str
    value: float | None
    threshold: str
    status: str                      # pass | fail
    detail: str

    def line(self) -> str:
        return f"{self.feed} {self.ds} [{self.rule}] {self.status.upper()}: {self.detail}"


class DQGateError(RuntimeError):
    """One or more gate rules failed; ``failed`` holds them (feed, day and rule each)."""

    def __init__(self, failed: list[GateResult]):
        self.failed = failed
        super().__init__("data-quality gate failed:\n" + "\n".join(f"  - {r.line()}" for r in failed))


def rules(cfg: dict) -> dict:
    """The gate settings of a city config (defaults when the section is absent)."""
    base = {"trailing_days": 14, "min_history_days": 5, "min_ratio": 0.5, "max_ratio": 3.0,
            "max_quarantine_share": 0.05, "volume_rule_feeds": []}
    return base | dict(cfg.get("orchestration", {}).get("dq_gate") or {})


def evaluate(feed: str, day: date, received: dict[date, float], quarantined: float | None,
             settings: dict) -> list[GateResult]:
    """The gate's verdicts for ``feed`` on covered day ``day``; ``received`` maps days (``day`` and
    earlier ones) to rows received."""
    out = []
    got = received.get(day)
    if got is None:
        return [GateResult(feed, day, "rows_received", None, "recorded", "fail",
                           "no rows_received recorded in dq_results for this day (was it staged?)")]
    if feed in settings["volume_rule_feeds"]:
        lo, hi = settings["min_ratio"], settings["max_ratio"]
        first = day - timedelta(days=settings["trailing_days"])
        history = [v for d, v in received.items() if first <= d < day and v is not None]
        if len(history) < settings["min_history_days"]:
            out.append(GateResult(feed, day, "rows_vs_trailing_median", None, f"[{lo}, {hi}]", "pass",
                                  f"{len(history)} earlier day(s) < {settings['min_history_days']}: not applied"))
        else:
            med = median(history)
            ratio = got / med if med else float("inf")
            ok = lo <= ratio <= hi
            out.append(GateResult(feed, day, "rows_vs_trailing_median", ratio, f"[{lo}, {hi}]",
                                  "pass" if ok else "fail",
                                  f"received {got:,.0f} rows vs a median of {med:,.0f} over {len(history)} earlier "
                                  f"day(s): ratio {ratio:.2f} {'within' if ok else 'outside'} [{lo}, {hi}]"))
    limit = settings["max_quarantine_share"]
    share = (quarantined or 0.0) / got if got else 0.0
    ok = share <= limit
    out.append(GateResult(feed, day, "quarantine_share", share, f"<= {limit}", "pass" if ok else "fail",
                          f"{quarantined or 0:,.0f} of {got:,.0f} rows quarantined ({share:.1%}; limit {limit:.1%})"))
    return out


def _recorded(paths: Paths, feed: str, first: date, last: date) -> dict[str, dict[date, float]]:
    root = paths.lake / "dq_results" / f"feed_or_table={feed}"
    if not any(root.glob("**/*.parquet")):
        return {}
    import duckdb

    with duckdb.connect() as con:
        rows = con.execute(
            f"SELECT check_name, CAST(ds AS DATE), SUM(value) FROM read_parquet('{root}/**/*.parquet', "
            "hive_partitioning = true) WHERE check_name IN ('rows_received', 'rows_quarantined') "
            "AND CAST(ds AS DATE) BETWEEN ? AND ? GROUP BY 1, 2", [first, last]).fetchall()
    out: dict[str, dict[date, float]] = {}
    for name, day, value in rows:
        out.setdefault(name, {})[day] = value
    return out


def check(paths: Paths, cfg: dict, feed: str, days: list[date]) -> list[GateResult]:
    """Apply the gate to ``feed`` on ``days``; raise ``DQGateError`` if any rule fails."""
    if not days:
        return []
    settings = rules(cfg)
    recorded = _recorded(paths, feed, min(days) - timedelta(days=settings["trailing_days"]), max(days))
    received, quarantined = recorded.get("rows_received", {}), recorded.get("rows_quarantined", {})
    results = [r for day in sorted(days) for r in evaluate(feed, day, received, quarantined.get(day), settings)]
    failed = [r for r in results if r.status == "fail"]
    if failed:
        raise DQGateError(failed)
    return results
