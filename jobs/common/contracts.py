"""Data contracts: the YAML files under ``schemas/`` as validated, typed objects.

Reads ``schemas/feeds/<name>.yaml`` (feeds as delivered into landing/) and
``schemas/tables/<name>.yaml`` (every lake, serving and ops table); writes nothing. The folder is
the repository's ``schemas/`` unless ``GEOPULSE_SCHEMAS`` (or an explicit argument) names another.

A contract holds name (= file name), kind, layer, description, grain (unique non-null key),
partition_by, pii (its most sensitive column's class), suppression, published, columns and, for
feeds only, format (how files are delivered); the data dictionary's legend explains them.
Loading validates the file and raises ``ContractError`` naming the file and every problem.
"""

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pyspark.sql import types as T

# The repository's schemas/; an installed wheel carries a copy as package data, jobs/schemas/
# (`make package`); the --py-files zip's copy is extracted by jobs/submit.py.
_REPO_SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
DEFAULT_SCHEMAS = _REPO_SCHEMAS if _REPO_SCHEMAS.is_dir() else Path(__file__).resolve().parents[1] / "schemas"
KIND_DIRS = {"feed": "feeds", "table": "tables"}
LAYERS = ("landing", "staged", "quarantine", "private", "aggregates", "marts", "geo", "ops")
PII_CLASSES = ("none", "health", "pseudonymous")          # ascending sensitivity
SUPPRESSION_FLAGS = {"people_count": "suppressed", "health_count": "masked", "indicator": "suppressed"}
LAYER_PREFIX = {"staged": "stg_", "private": "private_", "aggregates": "agg_", "marts": "mart_",
                "geo": "geo_"}
PUBLISHABLE_LAYERS = ("marts", "geo", "ops")
ACCESS_LEVELS = ("viewer", "epi", "engineer")          # serving roles, each reads the previous ones' tables
# contract type -> (Spark type, DuckDB type, PostgreSQL type); complex types are JSON / JSONB
TYPE_MAP = {
    "string": (T.StringType(), "VARCHAR", "TEXT"),
    "int": (T.IntegerType(), "INTEGER", "INTEGER"),
    "bigint": (T.LongType(), "BIGINT", "BIGINT"),
    "double": (T.DoubleType(), "DOUBLE", "DOUBLE PRECISION"),
    "boolean": (T.BooleanType(), "BOOLEAN", "BOOLEAN"),
    "date": (T.DateType(), "DATE", "DATE"),
    "timestamp": (T.TimestampType(), "TIMESTAMP", "TIMESTAMPTZ"),
}
FORMAT_TYPES = ("csv", "parquet", "jsonl", "geojson")
CADENCES = ("daily", "on_change", "once")

_TOP_REQUIRED = ("name", "kind", "layer", "description", "grain", "partition_by", "pii",
                 "suppression", "published", "columns")
_COL_REQUIRED = ("name", "type", "nullable", "pii", "description")
_COL_OPTIONAL = ("unit", "allowed", "min", "max", "pattern", "suppression", "suppressed_by")
_FMT_REQUIRED = ("type", "compression", "encoding", "file_pattern", "file_regex", "timezone",
                 "cadence")
_FMT_OPTIONAL = ("delimiter", "header", "alternate_encodings", "day_format", "timestamp_format",
                 "date_format", "notes")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_TOKEN = re.compile(r"array<|map<|struct<|[A-Za-z_][A-Za-z0-9_]*|[<>,:]")


class ContractError(ValueError):
    """A contract file is unreadable or inconsistent; the message names the file."""


# ---------------------------------------------------------------- types
def spark_type(text: str) -> T.DataType:
    """Spark type of a contract type: a simple name or DDL ``array<..>``, ``struct<..>``, ``map<..>``."""
    compact = re.sub(r"\s+", "", text)
    tokens = _TOKEN.findall(compact)
    dt = _parse_type(tokens, text) if "".join(tokens) == compact else None
    if dt is None or tokens:
        raise ValueError(f"unknown type '{text}'")
    return dt


def _parse_type(tok: list[str], text: str) -> T.DataType:
    def take(expected: str | None = None) -> str:
        t = tok.pop(0) if tok else ""
        if (expected and t != expected) or (not expected and not t):
            raise ValueError(f"unknown type '{text}'")
        return t

    t = take()
    if t in TYPE_MAP:
        return TYPE_MAP[t][0]
    if t == "array<":
        dt = T.ArrayType(_parse_type(tok, text), True)
    elif t == "map<":
        key = _parse_type(tok, text)
        take(",")
        dt = T.MapType(key, _parse_type(tok, text), True)
    elif t == "struct<":
        fields: list[T.StructField] = []
        while not fields or (tok and tok[0] == "," and take(",")):
            name = take()
            if not _IDENT.match(name) or take(":") != ":":
                raise ValueError(f"unknown type '{text}': bad struct field '{name}'")
            fields.append(T.StructField(name, _parse_type(tok, text), True))
        dt = T.StructType(fields)
    else:
        raise ValueError(f"unknown type '{text}'")
    take(">")
    return dt


def is_complex(type_name: str) -> bool:
    return type_name not in TYPE_MAP


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# ---------------------------------------------------------------- model
@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool
    pii: str
    description: str
    unit: str | None = None
    allowed: tuple | None = None
    min: float | None = None
    max: float | None = None
    pattern: str | None = None
    suppression: str | None = None
    suppressed_by: str | None = None

    def comment(self) -> str:
        """The column's description plus unit, for SQL comments."""
        return self.description + (f" Unit: {self.unit}." if self.unit else "")


@dataclass(frozen=True)
class Contract:
    name: str
    kind: str
    layer: str
    description: str
    columns: tuple[Column, ...]
    grain: tuple[str, ...]
    partition_by: tuple[str, ...]
    pii: str
    suppression: str
    published: bool
    format: dict[str, Any] | None = field(default=None, hash=False)
    access: str | None = None          # published tables: lowest serving role that reads it
    path: Path | None = None

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return {c.name: c for c in self.columns}[name]

    def spark_schema(self) -> T.StructType:
        return T.StructType([T.StructField(c.name, spark_type(c.type), c.nullable) for c in self.columns])

    def _ddl(self, table: str, db: int, complex_type: str) -> list[str]:
        types = [TYPE_MAP[c.type][db] if c.type in TYPE_MAP else complex_type for c in self.columns]
        lines = [f"    {_quote(c.name)} {t}" + ("" if c.nullable else " NOT NULL")
                 for c, t in zip(self.columns, types)]
        if self.grain:
            lines.append(f"    PRIMARY KEY ({', '.join(_quote(g) for g in self.grain)})")
        stmts = [f"CREATE TABLE {table} (\n" + ",\n".join(lines) + "\n);",
                 f"COMMENT ON TABLE {table} IS {_literal(self.description)};"]
        stmts += [f"COMMENT ON COLUMN {table}.{_quote(c.name)} IS {_literal(c.comment())};"
                  for c in self.columns]
        return stmts

    def duckdb_ddl(self, table_name: str | None = None) -> str:
        """CREATE TABLE (NOT NULL, PRIMARY KEY) and COMMENT ON statements for DuckDB."""
        return "\n".join(self._ddl(".".join(map(_quote, (table_name or self.name).split("."))), 1, "JSON"))

    def postgres_ddl(self, schema: str | None = None) -> str:
        """CREATE TABLE (NOT NULL, PRIMARY KEY) and COMMENT ON statements for PostgreSQL."""
        table = (_quote(schema) + "." if schema else "") + _quote(self.name)
        return "\n".join(self._ddl(table, 2, "JSONB"))

    def dictionary_rows(self) -> list[dict[str, Any]]:
        """One flat record per column (for the data dictionary or a catalogue table)."""
        return [{
            "table": self.name, "kind": self.kind, "layer": self.layer, "position": i + 1,
            "column": c.name, "type": c.type, "nullable": c.nullable, "pii": c.pii,
            "in_grain": c.name in self.grain, "partition": c.name in self.partition_by,
            "unit": c.unit, "allowed": None if c.allowed is None else ", ".join(map(str, c.allowed)),
            "min": c.min, "max": c.max, "pattern": c.pattern, "suppression": c.suppression,
            "suppressed_by": c.suppressed_by, "published": self.published,
            "description": c.description,
        } for i, c in enumerate(self.columns)]

    def read_options(self) -> dict[str, str]:
        """Spark reader options for a feed: separator, header, encoding, time formats and zone."""
        if self.format is None:
            raise ValueError(f"{self.name}: only feeds have read options")
        f, ts = self.format, self.format.get("timestamp_format")
        opts = {"sep": f.get("delimiter"), "header": str(f["header"]).lower() if "header" in f else None,
                "encoding": f["encoding"], "timeZone": f["timezone"], "dateFormat": f.get("date_format"),
                "timestampFormat": None if ts == "epoch_millis" else ts,
                "mode": "PERMISSIVE" if f["type"] in ("csv", "jsonl") else None}
        return {k: v for k, v in opts.items() if v is not None}


# ---------------------------------------------------------------- validation
def _keys(raw: dict, required: tuple, optional: tuple, label: str, problems: list[str]) -> bool:
    problems += [f"{label}missing key '{k}'" for k in required if k not in raw]
    problems += [f"{label}unknown key '{k}'" for k in raw if k not in required + optional]
    return all(k in raw for k in required)


def _one_of(value: Any, options: tuple | dict, what: str, problems: list[str]) -> None:
    if value not in options:
        problems.append(f"{what} '{value}' is not one of {', '.join(options)}")


def _check_column(raw: Any, i: int, problems: list[str]) -> Column | None:
    if not isinstance(raw, dict):
        problems.append(f"column #{i + 1} is not a mapping")
        return None
    label = f"column '{raw.get('name', f'#{i + 1}')}': "
    if not _keys(raw, _COL_REQUIRED, _COL_OPTIONAL, label, problems):
        return None
    err: list[str] = []
    name, ctype, allowed, sup = raw["name"], str(raw["type"]), raw.get("allowed"), raw.get("suppression")
    if not isinstance(name, str) or not _IDENT.match(name):
        err.append("name must be an identifier")
    try:
        spark_type(ctype)
    except ValueError as exc:
        err.append(str(exc))
    if not isinstance(raw["nullable"], bool):
        err.append("nullable must be true or false")
    _one_of(raw["pii"], PII_CLASSES, "pii", err)
    if not isinstance(raw["description"], str) or not raw["description"].strip():
        err.append("description must be a non-empty string")
    py = {"string": str, "int": int, "bigint": int, "double": (int, float), "boolean": bool}.get(ctype)
    if allowed is not None and (not isinstance(allowed, list) or not allowed or py is None or any(
            not isinstance(v, py) or (isinstance(v, bool) and ctype != "boolean") for v in allowed)):
        err.append(f"allowed must be a non-empty list of {ctype} values (simple non-date types)")
    for key in ("min", "max"):
        if raw.get(key) is not None and (ctype not in ("int", "bigint", "double")
                                         or type(raw[key]) not in (int, float)):
            err.append(f"{key} needs a number on an int, bigint or double column")
    if raw.get("pattern") is not None:
        if ctype != "string":
            err.append("pattern is only for string columns")
        try:
            re.compile(str(raw["pattern"]))
        except re.error as exc:
            err.append(f"pattern does not compile: {exc}")
    if sup is not None:
        _one_of(sup, SUPPRESSION_FLAGS, "suppression", err)
        if raw["nullable"] is not True:
            err.append("a suppressed column must be nullable")
    problems += [label + e for e in err]
    return Column(
        name=name, type=ctype, nullable=raw["nullable"], pii=raw["pii"],
        description=" ".join(str(raw["description"]).split()), unit=raw.get("unit"),
        allowed=tuple(allowed) if isinstance(allowed, list) else None, min=raw.get("min"),
        max=raw.get("max"), pattern=raw.get("pattern"), suppression=sup,
        suppressed_by=raw.get("suppressed_by") or SUPPRESSION_FLAGS.get(sup or ""),
    )


def _check_format(fmt: Any, problems: list[str]) -> None:
    if not isinstance(fmt, dict):
        problems.append("a feed needs a format mapping")
        return
    _keys(fmt, _FMT_REQUIRED, _FMT_OPTIONAL, "format: ", problems)
    _one_of(fmt.get("type"), FORMAT_TYPES, "format: type", problems)
    _one_of(fmt.get("compression"), ("none", "gzip"), "format: compression", problems)
    _one_of(fmt.get("cadence"), CADENCES, "format: cadence", problems)
    if fmt.get("type") == "csv" and ("delimiter" not in fmt or "header" not in fmt):
        problems.append("format: a csv feed needs delimiter and header")
    try:
        if "day" in re.compile(str(fmt.get("file_regex", ""))).groupindex and not fmt.get("day_format"):
            problems.append("format: file_regex has a 'day' group but no day_format")
    except re.error as exc:
        problems.append(f"format: file_regex does not compile: {exc}")


def _check_keys(raw: dict, by_name: dict[str, Column], problems: list[str]) -> None:
    for key in ("grain", "partition_by"):
        if not isinstance(raw[key], list):
            problems.append(f"{key} must be a list")
            raw[key] = []
        for name in raw[key]:
            col = by_name.get(name)
            if col is None or col.nullable or is_complex(col.type):
                problems.append(f"{key} column '{name}' must be a non-nullable simple column")
    if raw["grain"] and any(p not in raw["grain"] for p in raw["partition_by"]):
        problems.append("every partition_by column must be part of the grain")


def build_contract(raw: Any, path: Path, expected_kind: str | None = None) -> Contract:
    """Validate a parsed contract mapping; raise ``ContractError`` listing every problem."""
    problems: list[str] = []
    if not isinstance(raw, dict):
        raise ContractError(f"{path}: invalid contract: top level must be a mapping")
    if not _keys(raw, _TOP_REQUIRED, ("format", "access"), "", problems):
        raise ContractError(f"{path}: invalid contract: " + "; ".join(problems))
    name, kind, layer, pii = raw["name"], raw["kind"], raw["layer"], raw["pii"]
    if name != path.stem:
        problems.append(f"name '{name}' differs from the file name '{path.stem}'")
    _one_of(kind, KIND_DIRS, "kind", problems)
    if expected_kind and kind in KIND_DIRS and kind != expected_kind:
        problems.append(f"kind '{kind}' but the file is under {KIND_DIRS[expected_kind]}/")
    _one_of(layer, LAYERS, "layer", problems)
    if (kind == "feed") != (layer == "landing"):
        problems.append("feeds, and only feeds, are in layer landing")
    if LAYER_PREFIX.get(layer) and not str(name).startswith(LAYER_PREFIX[layer]):
        problems.append(f"a table in layer {layer} must be named {LAYER_PREFIX[layer]}*")
    if not isinstance(raw["description"], str) or not raw["description"].strip():
        problems.append("description must be a non-empty string")
    _one_of(pii, PII_CLASSES, "pii", problems)
    if not isinstance(raw["published"], bool):
        problems.append("published must be true or false")
    elif raw["published"] and (layer not in PUBLISHABLE_LAYERS or pii == "pseudonymous"):
        problems.append(f"a {layer} table with pii {pii} cannot be published")
    if "access" in raw and (raw["access"] not in ACCESS_LEVELS or raw["published"] is not True):
        problems.append(f"access must be one of {', '.join(ACCESS_LEVELS)} and only on a published table")
    if not isinstance(raw["suppression"], str) or not raw["suppression"].strip():
        problems.append("suppression must be a sentence or 'none'")
    if kind == "feed":
        _check_format(raw.get("format"), problems)
    elif "format" in raw:
        problems.append("only feeds have a format block")
    if not isinstance(raw["columns"], list) or not raw["columns"]:
        problems.append("columns must be a non-empty list")
        raise ContractError(f"{path}: invalid contract: " + "; ".join(problems))
    cols = [c for c in (_check_column(rc, i, problems) for i, rc in enumerate(raw["columns"])) if c]
    names = [c.name for c in cols]
    dups = sorted({n for n in names if names.count(n) > 1})
    problems += [f"column '{d}' is defined more than once" for d in dups]
    by_name = {c.name: c for c in cols}
    _check_keys(raw, by_name, problems)
    top = max((c.pii for c in cols if c.pii in PII_CLASSES), key=PII_CLASSES.index, default="none")
    if pii in PII_CLASSES and top != pii:
        problems.append(f"pii '{pii}' but the most sensitive column is '{top}'")
    suppressed = [c for c in cols if c.suppression]
    for col in suppressed:
        flag = by_name.get(col.suppressed_by or "")
        if flag is None or flag.type != "boolean":
            problems.append(f"column '{col.name}': flag column '{col.suppressed_by}' "
                            "must exist and be boolean")
    if bool(suppressed) == (str(raw["suppression"]).strip() == "none"):
        problems.append("suppression must be described exactly when some column is suppressed")
    if problems:
        raise ContractError(f"{path}: invalid contract: " + "; ".join(problems))
    return Contract(
        name=name, kind=kind, layer=layer, description=" ".join(raw["description"].split()),
        columns=tuple(cols), grain=tuple(raw["grain"]), partition_by=tuple(raw["partition_by"]),
        pii=pii, suppression=" ".join(raw["suppression"].split()), published=raw["published"],
        format=raw.get("format"), path=path, access=raw.get("access"),
    )


# ---------------------------------------------------------------- loading
def schemas_dir(schemas: str | Path | None = None) -> Path:
    """The contracts folder: the argument, else ``GEOPULSE_SCHEMAS``, else the repository's.
    Imported from the ``--py-files`` zip (a Spark executor's Python worker, which never ran
    ``jobs/submit.py``), the packaged contracts are first extracted (``jobs.submit.packaged_path``)."""
    from jobs.submit import packaged_path

    return packaged_path(schemas, "GEOPULSE_SCHEMAS", DEFAULT_SCHEMAS)


@lru_cache(maxsize=512)
def _load_file(path: Path, expected_kind: str | None, _mtime_ns: int) -> Contract:
    try:
        with open(path, encoding="utf-8") as fh:
            raw = yaml.safe_load(fh)
    except yaml.YAMLError as exc:
        raise ContractError(f"{path}: not valid YAML: {exc}") from exc
    return build_contract(raw, path, expected_kind)


def load_contract_file(path: str | Path, expected_kind: str | None = None) -> Contract:
    p = Path(path).resolve()
    return _load_file(p, expected_kind, p.stat().st_mtime_ns)


def load_contract(name: str, schemas: str | Path | None = None) -> Contract:
    """The contract called ``name`` (a feed or a table)."""
    root = schemas_dir(schemas)
    found = [(k, root / d / f"{name}.yaml") for k, d in KIND_DIRS.items()
             if (root / d / f"{name}.yaml").is_file()]
    if len(found) != 1:
        raise ContractError(f"contract '{name}': {len(found)} files named {name}.yaml under "
                            f"{root}/feeds and {root}/tables, expected exactly 1")
    return load_contract_file(found[0][1], found[0][0])


def all_contracts(kind: str | None = None, schemas: str | Path | None = None) -> list[Contract]:
    """Every contract (or every feed / every table), sorted by kind then name."""
    if kind is not None and kind not in KIND_DIRS:
        raise ValueError(f"kind must be feed or table, not {kind!r}")
    root = schemas_dir(schemas)
    kinds = [kind] if kind else list(KIND_DIRS)
    out = [load_contract_file(p, k) for k in kinds for p in sorted((root / KIND_DIRS[k]).glob("*.yaml"))]
    names = [c.name for c in out]
    dups = sorted({n for n in names if names.count(n) > 1})
    if dups:
        raise ContractError(f"{root}: contract names defined twice: {', '.join(dups)}")
    return out
