"""Every deployment config under infra/ parses, says what it is for, and names the versions of
requirements.lock (Spark = pyspark, Airflow, Python) and infra/superset/requirements.lock
(Superset and its extra packages); PostgreSQL is one major everywhere (the test server's)."""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
OWN = ("spark", "helm", "compose", "docker")          # folders whose files must say what they are for
CONFIG_SUFFIXES = (".yaml", ".yml", ".conf", ".sql", ".Dockerfile")


def _pins(lock: Path) -> dict[str, str]:
    return {m[0].lower(): m[1] for m in re.findall(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;#]+)", lock.read_text(), re.M)}


LOCK = _pins(ROOT / "requirements.lock")
SUPERSET_LOCK = _pins(INFRA / "superset" / "requirements.lock")
PYTHON = re.search(r"requires-python\s*=\s*\">=(3\.\d+)", (ROOT / "pyproject.toml").read_text())[1]
EXPECTED = {
    "spark": LOCK["pyspark"],
    "airflow": LOCK["apache-airflow"],
    "superset": SUPERSET_LOCK["apache-superset"],
    "python": PYTHON,
}
# product -> patterns whose first group is the version a file names
PATTERNS = {
    "spark": [r"apache/spark:(\d+\.\d+\.\d+)", r"-spark(\d+\.\d+\.\d+)", r"\bSpark (\d+\.\d+\.\d+)",
              r"SPARK_VERSION=(\d+\.\d+\.\d+)"],
    "airflow": [r"apache/airflow:(\d+\.\d+\.\d+)", r"geopulse-airflow:(\d+\.\d+\.\d+)", r"\bAirflow (\d+\.\d+\.\d+)",
                r"airflowVersion:\s*\"?(\d+\.\d+\.\d+)", r"defaultAirflowTag:\s*\"?(\d+\.\d+\.\d+)",
                r"^\s*tag:\s*\"?(\d+\.\d+\.\d+)-python"],
    "superset": [r"apache/superset:(\d+\.\d+\.\d+)", r"\bSuperset (\d+\.\d+\.\d+)"],
    "python": [r"python(3\.\d+)\b", r"\bPython (3\.\d+)", r"python:(3\.\d+)", r"python3\.(\d+)"],
    "postgresql": [r"\bpostgres:(\d{1,2})\b", r"\bPostgreSQL (\d+)\b"],
}


def config_files() -> list[Path]:
    files = [p for p in INFRA.rglob("*") if p.is_file() and (p.suffix in CONFIG_SUFFIXES or p.name.endswith("Dockerfile"))]
    return sorted(p for p in files if "__pycache__" not in p.parts)


def named_versions(text: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for product, patterns in PATTERNS.items():
        for pattern in patterns:
            for m in re.finditer(pattern, text, re.M):
                v = m.group(1)
                found.setdefault(product, set()).add("3." + v if pattern.startswith(r"python3\.") else v)
    return found


def parse_conf(path: Path) -> dict[str, str]:
    """A spark-defaults style file: ``key<whitespace>value`` lines, comments with #."""
    out: dict[str, str] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, _, value = line.strip().partition(" ")
        assert key.startswith("spark."), f"{path}:{n}: not a Spark property: {key}"
        assert value.strip(), f"{path}:{n}: {key} has no value"
        assert key not in out, f"{path}:{n}: {key} set twice"
        out[key] = value.strip()
    return out


def test_the_configs_exist():
    names = {p.relative_to(INFRA).as_posix() for p in config_files()}
    for need in ("spark/spark-defaults.conf", "spark/spark-s3a.conf", "spark/pod-template-driver.yaml",
                 "spark/pod-template-executor.yaml", "helm/airflow-values.yaml", "helm/superset-values.yaml",
                 "compose/docker-compose.yml", "docker/geopulse.Dockerfile", "docker/airflow.Dockerfile"):
        assert need in names, f"infra/{need} is missing"


@pytest.mark.parametrize("path", [p for p in config_files() if p.relative_to(INFRA).parts[0] in OWN],
                         ids=lambda p: p.relative_to(INFRA).as_posix())
def test_each_file_says_what_it_is_for(path):
    head = [line for line in path.read_text().splitlines()[:3] if line.startswith(("#", "--"))]
    assert head and len(head[0].lstrip("#- ")) >= 30, f"{path}: no header comment saying what it is for"


@pytest.mark.parametrize("path", config_files(), ids=lambda p: p.relative_to(INFRA).as_posix())
def test_each_config_parses_and_names_the_locked_versions(path):
    text = path.read_text()
    if path.suffix in (".yaml", ".yml"):
        docs = list(yaml.safe_load_all(text))
        assert docs and all(isinstance(d, dict) for d in docs), f"{path}: not a YAML mapping"
    elif path.suffix == ".conf":
        parse_conf(path)
    elif path.name.endswith("Dockerfile"):
        assert re.search(r"^FROM \S+", text, re.M), f"{path}: no FROM"
    for product, versions in named_versions(text).items():
        if product == "postgresql":
            continue
        assert versions == {EXPECTED[product]}, f"{path}: names {product} {sorted(versions)}, the lock has {EXPECTED[product]}"
    lock = SUPERSET_LOCK if "superset" in text.lower() and path.parent.name != "docker" else LOCK
    for name, version in re.findall(r"([A-Za-z][A-Za-z0-9_.\-]*)==(\d[\w.]*)", text):
        pins = SUPERSET_LOCK if name.lower() in SUPERSET_LOCK and name.lower() not in LOCK else lock
        assert pins.get(name.lower()) == version, f"{path}: pins {name}=={version}, the lock has {pins.get(name.lower())}"


def test_every_product_is_named_and_postgresql_is_one_major():
    named: dict[str, set[str]] = {}
    for path in config_files():
        for product, versions in named_versions(path.read_text()).items():
            named.setdefault(product, set()).update(versions)
    assert set(named) >= set(PATTERNS), f"products never named in infra/: {set(PATTERNS) - set(named)}"
    assert len(named["postgresql"]) == 1, f"PostgreSQL majors named in infra/: {sorted(named['postgresql'])}"
    installed = sorted(p.name for p in Path("/usr/lib/postgresql").glob("*") if p.name.isdigit())
    if installed:                                   # the server the tests use (bootstrap installs Debian's)
        assert named["postgresql"] <= set(installed), f"infra names PostgreSQL {named['postgresql']}, installed {installed}"


def test_s3a_connector_matches_the_hadoop_client_in_pyspark():
    import pyspark

    jars = Path(pyspark.__file__).parent / "jars"
    client = re.search(r"hadoop-client-api-(\d+\.\d+\.\d+)\.jar", " ".join(p.name for p in jars.iterdir()))[1]
    named = set(re.findall(r"hadoop-aws[:-](\d+\.\d+\.\d+)", "\n".join(p.read_text() for p in config_files())))
    assert named == {client}, f"infra names hadoop-aws {sorted(named)}, pyspark ships Hadoop client {client}"


def test_spark_defaults_point_at_files_that_exist():
    conf = parse_conf(INFRA / "spark" / "spark-defaults.conf")
    for key in ("spark.kubernetes.driver.podTemplateFile", "spark.kubernetes.executor.podTemplateFile"):
        assert (ROOT / conf[key]).is_file(), f"{key} = {conf[key]} does not exist"
    templates = {k: yaml.safe_load((ROOT / conf[k]).read_text()) for k in
                 ("spark.kubernetes.driver.podTemplateFile", "spark.kubernetes.executor.podTemplateFile")}
    for key, pod in templates.items():
        assert pod["kind"] == "Pod"
        wanted = conf[key.replace("podTemplateFile", "podTemplateContainerName")]
        assert wanted in [c["name"] for c in pod["spec"]["containers"]], f"{key}: no container {wanted}"
    assert "timeZone" not in " ".join(conf), "the session time zone is fixed in jobs/common/spark.py"
    s3a = parse_conf(INFRA / "spark" / "spark-s3a.conf")
    assert s3a["spark.hadoop.fs.s3a.impl"] == "org.apache.hadoop.fs.s3a.S3AFileSystem"
    assert not any("secret" in k.lower() or "access.key" in k.lower() for k in s3a), "credentials in a config file"


def test_compose_stack_is_complete_and_consistent():
    compose = yaml.safe_load((INFRA / "compose" / "docker-compose.yml").read_text())
    services = compose["services"]
    for need in ("postgres", "spark-master", "spark-worker", "airflow-apiserver", "airflow-scheduler", "superset"):
        assert need in services, f"compose: no {need} service"
    for name, svc in services.items():
        deps = svc.get("depends_on", [])
        for dep in (deps if isinstance(deps, list) else list(deps)):
            assert dep in services, f"compose: {name} depends on unknown {dep}"
        build = svc.get("build")
        if build:
            ctx = (INFRA / "compose" / build["context"]).resolve()
            assert (ctx / build["dockerfile"]).is_file(), f"compose: {name} builds a missing Dockerfile"
        for vol in svc.get("volumes", []):
            src = vol.split(":")[0]
            if src.startswith("."):
                assert (INFRA / "compose" / src).resolve().exists(), f"compose: {name} mounts missing {src}"
            else:
                assert src in compose.get("volumes", {}), f"compose: {name} uses undeclared volume {src}"
    master = " ".join(services["spark-master"]["command"])
    port = re.search(r"--port (\d+)", master)[1]
    assert f"spark://spark-master:{port}" in " ".join(services["spark-worker"]["command"])
    conn = services["airflow-scheduler"]["environment"]
    assert conn["GEOPULSE_SPARK_CONN_ID"] == "spark_standalone" and f'"port": {port}' in conn["AIRFLOW_CONN_SPARK_STANDALONE"]


def test_helm_values_use_the_chart_keys():
    airflow = yaml.safe_load((INFRA / "helm" / "airflow-values.yaml").read_text())
    assert airflow["airflowVersion"] == EXPECTED["airflow"]
    assert airflow["images"]["airflow"]["tag"].startswith(EXPECTED["airflow"])
    assert {"name": "GEOPULSE_SPARK_CONN_ID", "value": "spark_k8s"} in airflow["env"]
    assert any(s["envName"] == "AIRFLOW_CONN_SPARK_K8S" for s in airflow["secret"])
    superset = yaml.safe_load((INFRA / "helm" / "superset-values.yaml").read_text())
    assert superset["image"] == {"repository": "apache/superset", "tag": EXPECTED["superset"], "pullPolicy": "IfNotPresent"}
    assert "flask-caching==2.3.1" in superset["bootstrapScript"]
