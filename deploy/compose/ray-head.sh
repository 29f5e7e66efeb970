#!/bin/sh
# compose.yaml's Ray head: Ray, then Serve with serve_config.yaml's proxy, HTTP and gRPC options
# but listening on the container's interfaces (the published ports decide who reaches it).
# Serve keeps the HTTP options it started with: the `deploy` service's
# `serve deploy serve_config.yaml` then adds the app (Serve logs that the config's host differs).
# The container lives as long as Ray's processes do; `docker compose stop` stops Ray cleanly.
set -eu
rm -f /tmp/serve-started
trap 'ray stop --force; exit 0' TERM INT
ray start --head --block --port=6379 --dashboard-host=0.0.0.0 \
    --num-cpus="${RAY_HEAD_CPUS:-2}" --object-store-memory=1000000000 --disable-usage-stats &
ray_pid=$!
until ray health-check --address 127.0.0.1:6379 2>/dev/null; do
    kill -0 "$ray_pid" 2>/dev/null || exit 1
    sleep 1
done
python - /etc/rayline/serve_config.yaml <<'PY'
import sys

import ray
import yaml
from ray import serve

config = yaml.safe_load(open(sys.argv[1]))
ray.init(address="auto", logging_level="ERROR")
serve.start(
    proxy_location=config.get("proxy_location", "HeadOnly"),
    http_options={**config.get("http_options", {}), "host": "0.0.0.0"},
    grpc_options=config.get("grpc_options"),
)
PY
touch /tmp/serve-started  # compose.yaml's health check
wait "$ray_pid"
