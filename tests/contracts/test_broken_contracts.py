"""Broken contract files fail to load with the file name and the problem in the message."""

import pytest
import yaml

from jobs.common.contracts import ContractError, all_contracts, load_contract

GOOD = {
    "name": "agg_demo__h3_day", "kind": "table", "layer": "aggregates",
    "description": "A demo table.", "grain": ["ds", "h3_cell"], "partition_by": ["ds"],
    "pii": "none", "suppression": "people counts below k are null with suppressed=true",
    "published": False,
    "columns": [
        {"name": "ds", "type": "date", "nullable": False, "pii": "none", "description": "Day."},
        {"name": "h3_cell", "type": "string", "nullable": False, "pii": "none", "description": "Cell."},
        {"name": "people_est", "type": "double", "nullable": True, "pii": "none",
         "suppression": "people_count", "description": "People."},
        {"name": "suppressed", "type": "boolean", "nullable": False, "pii": "none",
         "description": "Withheld."},
    ],
}


def _write(folder, doc, name="agg_demo__h3_day", sub="tables"):
    path = folder / sub / f"{name}.yaml"
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def _broken(**changes):
    doc = {**GOOD, "columns": [dict(c) for c in GOOD["columns"]]}
    for key, value in changes.items():
        if key.startswith("col_"):
            doc["columns"][int(key[4])].update(value)
        elif value is None:
            doc.pop(key)
        else:
            doc[key] = value
    return doc


def test_good_contract_loads_from_env_folder(schemas_copy):
    _write(schemas_copy, GOOD)
    c = load_contract("agg_demo__h3_day")
    assert c.column_names == ["ds", "h3_cell", "people_est", "suppressed"]
    assert [x.name for x in all_contracts()] == ["agg_demo__h3_day"]
    assert load_contract("agg_demo__h3_day", schemas=schemas_copy) == c


@pytest.mark.parametrize("changes, problem", [
    ({"grain": None}, "missing key 'grain'"),
    ({"colour": "red"}, "unknown key 'colour'"),
    ({"col_1": {"type": "varchar"}}, "column 'h3_cell': unknown type 'varchar'"),
    ({"col_1": {"type": "array<strin>"}}, "unknown type 'array<strin>'"),
    ({"grain": ["ds", "hex"]}, "grain column 'hex' must be a non-nullable simple column"),
    ({"partition_by": ["month"]}, "partition_by column 'month'"),
    ({"pii": "secret"}, "pii 'secret' is not one of"),
    ({"col_0": {"pii": "medical"}}, "column 'ds': pii 'medical'"),
    ({"pii": "health"}, "the most sensitive column is 'none'"),
    ({"col_1": {"name": "ds"}}, "column 'ds' is defined more than once"),
    ({"name": "agg_other__h3_day"}, "differs from the file name"),
    ({"layer": "marts"}, "must be named mart_*"),
    ({"kind": "feed"}, "kind 'feed' but the file is under tables/"),
    ({"published": True}, "cannot be published"),
    ({"col_3": {"name": "hidden"}}, "flag column 'suppressed' must exist"),
    ({"suppression": "none"}, "suppression must be described exactly when"),
    ({"col_2": {"nullable": False}}, "a suppressed column must be nullable"),
    ({"col_1": {"allowed": [1, 2]}}, "allowed must be a non-empty list of string values"),
    ({"col_1": {"pattern": "([0-9"}}, "pattern does not compile"),
    ({"col_0": {"description": ""}}, "description must be a non-empty string"),
    ({"columns": []}, "columns must be a non-empty list"),
])
def test_broken_contract_names_file_and_problem(schemas_copy, changes, problem):
    path = _write(schemas_copy, _broken(**changes))
    with pytest.raises(ContractError) as exc:
        load_contract("agg_demo__h3_day")
    assert str(path) in str(exc.value) and problem in str(exc.value)
    with pytest.raises(ContractError, match="agg_demo__h3_day.yaml"):
        all_contracts()


def test_invalid_yaml_names_the_file(schemas_copy):
    path = _write(schemas_copy, "name: agg_demo__h3_day\ncolumns: [unclosed\n")
    with pytest.raises(ContractError, match="not valid YAML") as exc:
        load_contract("agg_demo__h3_day")
    assert str(path) in str(exc.value)


def test_feed_format_block_is_checked(schemas_copy):
    feed = {**GOOD, "name": "demo_feed", "kind": "feed", "layer": "landing", "suppression": "none",
            "columns": [dict(c) for c in GOOD["columns"] if c["name"] in ("ds", "h3_cell")],
            "format": {"type": "xlsx", "compression": "none", "encoding": "utf-8",
                       "file_pattern": "demo_*.csv", "file_regex": r"^demo_(?P<day>\d{8})\.csv$",
                       "timezone": "UTC", "cadence": "hourly"}}
    path = _write(schemas_copy, feed, name="demo_feed", sub="feeds")
    with pytest.raises(ContractError) as exc:
        load_contract("demo_feed")
    msg = str(exc.value)
    assert str(path) in msg
    for problem in ("format: type 'xlsx'", "format: cadence 'hourly'", "'day' group but no day_format"):
        assert problem in msg


def test_unknown_and_ambiguous_names(schemas_copy):
    with pytest.raises(ContractError, match="0 files named nothing.yaml"):
        load_contract("nothing")
    _write(schemas_copy, GOOD)
    _write(schemas_copy, GOOD, sub="feeds")
    with pytest.raises(ContractError, match="2 files named agg_demo__h3_day.yaml"):
        load_contract("agg_demo__h3_day")
