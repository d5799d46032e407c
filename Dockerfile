# The offering-sync image for a Prefect Docker work pool: the code, its dependencies and the
# bundled mappings, so that workers need no checkout of this repository (docker/prefect.yaml).
#
#   docker build -t offering-sync:0.1.0 .
#
# NOT BUILT in this project's CI, which has no Docker engine: tests/ops/test_docker.py checks
# instead that the build context holds what the COPY lines need, runs the RUN lines below in a
# fresh virtualenv from a copy of that context, and deploys docker/prefect.yaml to a Docker
# work pool on a real Prefect server.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /opt/offering-sync
COPY . /opt/offering-sync
# The same install as the README's quick start (minus -e), then the same check .ci/run makes.
RUN pip install . && offering-sync mappings check

# No CMD: the Docker worker starts each flow run in a container of this image with Prefect's
# own command. Settings and credentials arrive as the work pool's job_variables.env and as
# Prefect Secret blocks; nothing is read from the host's filesystem.
