"""The Airflow assets that chain the daily DAGs (data-aware scheduling).

``staged(feed)``: a feed's staged tables were rebuilt for some covered days (emitted by
``ingest_<feed>`` after its DQ gate); ``aggregates`` (by ``aggregate_daily``) and ``marts`` (by
``analytics_daily``). Every event carries ``extra = {"days": [...], "delivered": [...]}``: the
days rebuilt, so the next DAG recomputes exactly those (a late correction included).
"""

from airflow.sdk import Asset


def staged(feed: str) -> Asset:
    return Asset(name=f"staged_{feed}", uri=f"file:///geopulse/lake/staged/{feed}", group="geopulse")


AGGREGATES = Asset(name="aggregates_daily", uri="file:///geopulse/lake/aggregates", group="geopulse")
MARTS = Asset(name="marts_daily", uri="file:///geopulse/lake/marts", group="geopulse")
