# The GeoPulse job image: Spark driver and executors on Kubernetes (infra/spark/spark-defaults.conf),
# the Spark master/worker of infra/compose/docker-compose.yml, and the spark-submit client.
# Python 3.11 + Java 17 + requirements.lock (pyspark 4.2.0, whose jars are the Spark 4.2.0
# runtime) + the GeoPulse wheel from `make package`; the Kubernetes entrypoint comes from the
# official apache/spark 4.2.0 image. Build from the repository root after `make package`:
#   docker build -f infra/docker/geopulse.Dockerfile -t geopulse-spark:0.1.0-spark4.2.0-python3.11 .
ARG SPARK_VERSION=4.2.0
FROM apache/spark:4.2.0 AS spark-dist

FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless tini procps \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 185 --create-home spark
COPY requirements.lock /tmp/requirements.lock
RUN pip install --no-cache-dir -r /tmp/requirements.lock
COPY dist/geopulse-*.whl /tmp/
RUN pip install --no-cache-dir --no-deps /tmp/geopulse-*.whl && rm /tmp/*.whl
# Optional S3 connector jars (infra/spark/spark-s3a.conf): put them in infra/docker/jars/ first.
COPY infra/docker/jars/ /tmp/extra-jars/
ENV SPARK_HOME=/usr/local/lib/python3.11/site-packages/pyspark \
    JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64 \
    PYSPARK_PYTHON=/usr/local/bin/python3.11
RUN cp /tmp/extra-jars/*.jar "$SPARK_HOME/jars/" 2>/dev/null || true; rm -rf /tmp/extra-jars
COPY --from=spark-dist /opt/entrypoint.sh /opt/entrypoint.sh
COPY --from=spark-dist /opt/decom.sh /opt/decom.sh
COPY dist/submit.py /opt/geopulse/submit.py
ENV PATH="$SPARK_HOME/bin:$PATH"
WORKDIR /opt/geopulse
USER 185
ENTRYPOINT ["/opt/entrypoint.sh"]
