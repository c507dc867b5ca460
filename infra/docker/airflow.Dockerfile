# The GeoPulse Airflow image: the official apache/airflow 3.3.2 image (Python 3.11) with the
# pipeline's pinned environment (requirements.lock: the Spark provider 6.3.4 and pyspark 4.2.0 for
# spark-submit), Java 17 for the spark-submit client, the GeoPulse wheel and the DAGs. Used by
# infra/helm/airflow-values.yaml and infra/compose/docker-compose.yml. Build after `make package`:
#   docker build -f infra/docker/airflow.Dockerfile -t geopulse-airflow:3.3.2-python3.11 .
FROM apache/airflow:3.3.2-python3.11
USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
 && rm -rf /var/lib/apt/lists/*
USER airflow
COPY requirements.lock /tmp/requirements.lock
RUN pip install --no-cache-dir -r /tmp/requirements.lock
COPY dist/geopulse-*.whl /tmp/
RUN pip install --no-cache-dir --no-deps /tmp/geopulse-*.whl
COPY dist/submit.py /opt/geopulse/submit.py
COPY dags/ /opt/airflow/dags/
ENV JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64
