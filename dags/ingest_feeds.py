"""``ingest_<feed>``: one DAG per feed and operator, built by the factory from the city config
(``geopulse_dags.ingest_factory``). The factory returns the DAGs; Airflow registers DAGs built in
a ``with DAG`` block of a module it parses, and they are listed here by id as well."""

from geopulse_dags.ingest_factory import ingest_dags
from geopulse_dags.settings import settings

INGEST_DAGS = {dag.dag_id: dag for dag in ingest_dags(settings())}
