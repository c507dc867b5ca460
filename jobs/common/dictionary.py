"""The data dictionary: Markdown rendered from the contracts in ``schemas/``.

Reads every contract (``jobs.common.contracts.all_contracts``); writes
``schemas/data_dictionary.md`` (or another path). The output is deterministic (no dates, fixed
order: layers in data-flow order, then names), so the committed file can be compared with a
fresh render.
"""

from pathlib import Path

from jobs.common.contracts import DEFAULT_SCHEMAS, LAYERS, Contract, all_contracts

DEFAULT_PATH = DEFAULT_SCHEMAS / "data_dictionary.md"

LAYER_TITLES = {
    "landing": "Feeds (landing, as delivered)",
    "staged": "Staged (typed, 1:1 with raw)",
    "quarantine": "Quarantine",
    "private": "Private (subscriber-level, never published)",
    "aggregates": "Aggregates",
    "marts": "Marts (published)",
    "geo": "Geography",
    "ops": "Operations",
}

_LEGEND = """\
**PII classes** (a table's class is its most sensitive column's): `none`; `health` (health
records or health counts: epidemiologist role only); `pseudonymous` (subscriber-level data keyed by
a salted pseudonym: stays in the lake, never published, no serving role reads it).

**Suppression**: `people_count` columns are null when fewer than `privacy.k_anonymity` distinct
subscribers stand behind them, with the row's flag (`suppressed` unless named) set to true;
`health_count` columns are null below `privacy.health_mask_below` with `masked` true;
`indicator` columns follow the rule of their indicator. Suppression is complementary across
resolutions and districts, so a withheld value cannot be recovered by subtraction.

**Types**: `string`, `int` (32-bit), `bigint` (64-bit), `double`, `boolean`, `date` (local city
date), `timestamp` (an instant, stored in UTC); feeds may have Spark DDL complex types. A
feed's column types are the logical types of the delivered values: text timestamps and dates
are parsed with the feed's timestamp/date format in its time zone.
"""


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _codes(names: tuple[str, ...] | list[str]) -> str:
    return ", ".join(f"`{n}`" for n in names) if names else "none"


def _column_notes(col) -> str:
    notes = [col.description]
    if col.unit:
        notes.append(f"Unit: {col.unit}.")
    if col.allowed is not None:
        notes.append("Allowed: " + ", ".join(f"`{v}`" for v in col.allowed) + ".")
    if col.min is not None and col.max is not None:
        notes.append(f"Range: {col.min} to {col.max}.")
    elif col.min is not None:
        notes.append(f"Minimum: {col.min}.")
    elif col.max is not None:
        notes.append(f"Maximum: {col.max}.")
    if col.pattern:
        notes.append(f"Pattern: `{col.pattern}`.")
    if col.suppression:
        notes.append(f"Suppression: {col.suppression} (flag `{col.suppressed_by}`).")
    return _cell(" ".join(notes))


def _format_summary(fmt: dict) -> str:
    parts = [fmt["type"]]
    if fmt.get("compression", "none") != "none":
        parts.append(fmt["compression"])
    if fmt.get("delimiter"):
        parts.append(f"delimiter `{fmt['delimiter']}`")
    parts.append(fmt["encoding"] + "".join(f" (or {e})" for e in fmt.get("alternate_encodings", [])))
    parts.append(f"files `{fmt['file_pattern']}`")
    if fmt.get("timestamp_format"):
        parts.append(f"timestamps `{fmt['timestamp_format']}`")
    parts.append(f"time zone {fmt['timezone']}")
    parts.append(f"delivered {fmt['cadence'].replace('_', ' ')}")
    return _cell(", ".join(parts))


def render_contract(c: Contract) -> str:
    rows = [
        ("Kind", f"{c.kind}, layer {c.layer}"),
        ("Grain", _codes(c.grain)),
        ("Partitioned by", _codes(c.partition_by)),
        ("PII class", c.pii),
        ("Suppression", _cell(c.suppression)),
        ("Published", (f"yes, serving role level `{c.access}` and above" if c.access else "yes")
         if c.published else "no"),
    ]
    if c.format:
        rows.append(("Delivery", _format_summary(c.format)))
        if c.format.get("notes"):
            rows.append(("Notes", _cell(c.format["notes"])))
    src = f"schemas/{'feeds' if c.kind == 'feed' else 'tables'}/{c.name}.yaml"
    rows.append(("Contract", f"`{src}`"))
    lines = [f"### {c.name}", "", c.description, "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in rows]
    lines += ["", "| # | Column | Type | Nullable | PII | Description |",
              "|---|---|---|---|---|---|"]
    for i, col in enumerate(c.columns, 1):
        key = " (key)" if col.name in c.grain else ""
        lines.append(f"| {i} | `{col.name}`{key} | `{col.type}` | {'yes' if col.nullable else 'no'} "
                     f"| {col.pii} | {_column_notes(col)} |")
    return "\n".join(lines) + "\n"


def render_dictionary(contracts: list[Contract] | None = None, views: bool = True) -> str:
    """The whole dictionary as Markdown: legend, contents by layer, one section per contract,
    then the serving views (``views``)."""
    contracts = all_contracts() if contracts is None else contracts
    by_layer = {layer: sorted((c for c in contracts if c.layer == layer), key=lambda c: c.name)
                for layer in LAYERS}
    out = ["# GeoPulse data dictionary", "",
           "Generated from the contracts in `schemas/` by `jobs/common/dictionary.py` "
           "(`geopulse docs`); do not edit by hand.", "", _LEGEND, "## Contents", ""]
    for layer, items in by_layer.items():
        if items:
            out.append(f"- **{LAYER_TITLES[layer]}**: "
                       + ", ".join(f"[{c.name}](#{c.name})" for c in items))
    for layer, items in by_layer.items():
        if not items:
            continue
        out += ["", f"## {LAYER_TITLES[layer]}", ""]
        out += [render_contract(c) for c in items]
    if views:                                    # the serving views (jobs/publish/views.py)
        from jobs.publish.views import markdown

        out += ["", markdown().replace("\n## ", "\n### ").replace("# Serving views", "## Serving views", 1)]
    return "\n".join(out).rstrip("\n") + "\n"


def write_dictionary(path: str | Path | None = None, contracts: list[Contract] | None = None) -> Path:
    """Render the dictionary and write it (default ``schemas/data_dictionary.md``)."""
    target = Path(path) if path else DEFAULT_PATH
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_dictionary(contracts), encoding="utf-8")
    return target
