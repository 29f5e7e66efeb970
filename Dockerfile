# syntax=docker/dockerfile:1
# Rayline's image (README "Deploy"): one image for the Ray head, the Ray workers, the MLflow
# server and job drivers, chosen by command (compose.yaml, deploy/kuberay). Build it with
# `make image`: it makes the wheelhouse on this machine first (`pip wheel`, with the machine's
# own index settings), so the build itself needs no Python package index; an air-gapped build
# brings the bases: `make image BASE=... NODE_BASE=...`.
ARG BASE=python:3.11-slim-bookworm
ARG NODE_BASE=node:20-bookworm-slim

# --- the web UI (web/dist) ----------------------------------------------------------------
FROM ${NODE_BASE} AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
# Behind a TLS-intercepting proxy, give npm its CA: `make image CA=/path/to/bundle.pem`.
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/ca; fi \
    && npm ci --no-audit --no-fund --loglevel=error
COPY web/ ./
RUN npm run build

# --- Rayline in a venv, from the wheelhouse ------------------------------------------------
FROM ${BASE} AS build
ARG PYTHON=python3.11
COPY .rayline/wheelhouse/ /wheels/
RUN ${PYTHON} -m venv /opt/rayline \
    && /opt/rayline/bin/pip install --no-index --find-links /wheels --no-cache-dir \
       --disable-pip-version-check -q setuptools grpcio-tools
WORKDIR /src
COPY pyproject.toml README.md ./
COPY configs/ configs/
COPY jobs/ jobs/
COPY rayline/ rayline/
COPY serve_app/ serve_app/
COPY --from=web /src/web/dist/ web/dist/
RUN /opt/rayline/bin/python -m grpc_tools.protoc -I . --python_out=. --pyi_out=. \
       --grpc_python_out=. serve_app/protos/open_inference_grpc.proto \
    && /opt/rayline/bin/pip install --no-index --find-links /wheels --no-cache-dir \
       --disable-pip-version-check --no-build-isolation -q . \
    && /opt/rayline/bin/python -m compileall -q /opt/rayline/lib > /dev/null

# --- the image ----------------------------------------------------------------------------
FROM ${BASE}
# A non-root user (uid 1000) without useradd, which a minimal Debian base may lack.
RUN echo 'rayline:x:1000:1000:Rayline:/home/rayline:/bin/sh' >> /etc/passwd \
    && echo 'rayline:x:1000:' >> /etc/group \
    && mkdir -p /home/rayline/.rayline /data \
    && chown -R 1000:1000 /home/rayline /data
COPY --from=build /opt/rayline /opt/rayline
# What `rayline.stack.ray_env` gives the local head's Ray processes (tests/unit/test_container.py
# keeps the two equal): token auth, workers at normal priority, Serve behind HAProxy.
ENV PATH=/opt/rayline/bin:$PATH \
    HOME=/home/rayline \
    RAYLINE_HOME=/home/rayline/.rayline \
    RAY_AUTH_MODE=token \
    RAY_worker_niceness=0 \
    RAY_SERVE_ENABLE_HA_PROXY=1 \
    RAY_SERVE_THROUGHPUT_OPTIMIZED=1 \
    RAY_SERVE_HAPROXY_BINARY_PATH=/opt/rayline/bin/rayline-haproxy \
    RAY_SERVE_HAPROXY_RETRY_ON="conn-failure empty-response junk-response" \
    RAY_SERVE_HAPROXY_RETRIES=3 \
    MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false \
    PYTHONUNBUFFERED=1
USER 1000:1000
WORKDIR /home/rayline
CMD ["rayline-stack", "--help"]
