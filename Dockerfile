# Container image for Spark on Kubernetes (docs/DEPLOY.md, "Kubernetes").
# Build the wheel first (`python -m build --wheel`), then:
#   docker build -t REGISTRY/fraud-app:0.1.0 .
# The base image must carry the same Spark version as PYSPARK_VERSION (constraints.txt's pin;
# another base image: set both, a version of pyproject.toml's tested range).
ARG SPARK_IMAGE=apache/spark:4.3.0-python3
ARG PYSPARK_VERSION=4.3.0
FROM ${SPARK_IMAGE}

USER root
# Python 3.11+ is required; Java 17 and Spark come with the base image. Some Spark images
# carry an older python3 (Ubuntu jammy: 3.10): the build stops here naming it; use a base
# image with Python 3.11+ (SPARK_IMAGE=...) or ship the packed environment (docs/DEPLOY.md).
RUN python3 -c "import sys; v = sys.version_info; sys.exit(0 if v >= (3, 11) else 'fraud-app needs Python >= 3.11; this base image has python3 %d.%d (set SPARK_IMAGE to one with 3.11+)' % v[:2])"
COPY dist/fraud_app-*.whl /tmp/
RUN python3 -m pip install --no-cache-dir /tmp/fraud_app-*.whl "pyspark[connect]==${PYSPARK_VERSION}" \
    && rm /tmp/fraud_app-*.whl \
    && mkdir -p /opt/fraud-app
# spark-submit's primary resource: the same entry as `python -m pipelines` / `fraud-app`.
COPY pipelines/__main__.py /opt/fraud-app/main.py
# One BLAS thread per task by default; spark.task.cpus raises it for training tasks.
ENV PYSPARK_PYTHON=python3 DLCORE_NUM_THREADS=1
USER 185
