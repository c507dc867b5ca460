"""The data dictionary covers every contract and the committed copy is never stale."""

from jobs.common.contracts import DEFAULT_SCHEMAS, all_contracts
from jobs.common.dictionary import render_dictionary, write_dictionary

CONTRACTS = all_contracts()


def test_dictionary_mentions_every_table_and_column():
    text = render_dictionary(CONTRACTS)
    for c in CONTRACTS:
        assert f"\n### {c.name}\n" in text and f"(#{c.name})" in text
        section = text.split(f"\n### {c.name}\n", 1)[1].split("\n### ", 1)[0]
        assert c.description in section
        for col in c.columns:
            assert f"| `{col.name}`" in section, (c.name, col.name)


def test_dictionary_states_keys_privacy_and_publication():
    section = render_dictionary(CONTRACTS).split("\n### agg_presence__h3_hour\n", 1)[1].split("\n### ", 1)[0]
    assert "| Grain | `ds`, `hour`, `h3_cell` |" in section
    assert "| Partitioned by | `ds` |" in section
    assert "| Published | no |" in section
    assert "Suppression: people_count (flag `suppressed`)." in section
    assert "| PII class | none |" in section


def test_dictionary_rows_flatten_every_column():
    rows = [r for c in CONTRACTS for r in c.dictionary_rows()]
    assert len(rows) == sum(len(c.columns) for c in CONTRACTS)
    lag = next(r for r in rows if r["table"] == "mart_lagcorr" and r["column"] == "lag_days")
    assert lag["type"] == "int" and lag["in_grain"] and lag["min"] == -28


def test_committed_dictionary_is_fresh():
    committed = (DEFAULT_SCHEMAS / "data_dictionary.md").read_text(encoding="utf-8")
    fresh = render_dictionary(all_contracts(schemas=DEFAULT_SCHEMAS))
    assert committed == fresh, "schemas/data_dictionary.md is stale: run `geopulse docs`"


def test_write_dictionary(tmp_path):
    target = write_dictionary(tmp_path / "docs" / "dictionary.md", CONTRACTS)
    assert target.read_text(encoding="utf-8") == render_dictionary(CONTRACTS)
