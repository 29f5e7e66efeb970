from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from ray.serve._private.haproxy_templates import HAPROXY_CONFIG_TEMPLATE

from rayline import haproxy, stack
from rayline.settings import Settings
from rayline.stack.harness import LocalStack, environ
from rayline.stack.profiles import PROFILES, RAY_WORKER_PORTS, PortProfile, profile

CONFIG = """frontend prometheus
    bind :9101
    mode http
frontend http_frontend
    bind 127.0.0.1:8000
listen stats
  bind *:8404
  stats enable
"""


def test_hostless_binds_are_pinned_to_loopback_and_explicit_hosts_kept() -> None:
    pinned = haproxy.pin_to_loopback(CONFIG)
    binds = re.findall(r"bind (\S+)", pinned)
    assert binds == ["127.0.0.1:9101", "127.0.0.1:8000", "127.0.0.1:8404"]
    assert haproxy.pin_to_loopback(pinned) == pinned


def test_the_ingress_frontends_keep_the_host_serve_config_asks_for() -> None:
    """`http_options.host: 0.0.0.0` (a container's or a cluster head's ingress) renders the
    ingress frontends as `*`: they stay on every interface; the stats page does not."""
    everywhere = CONFIG.replace("bind 127.0.0.1:8000", "bind *:8000") + (
        "frontend grpc_frontend\n    bind *:9000 proto h2\n"
    )
    binds = re.findall(r"bind (\S+)", haproxy.pin_to_loopback(everywhere))
    assert binds == ["127.0.0.1:9101", "*:8000", "127.0.0.1:8404", "*:9000"]


def test_every_hostless_bind_in_ray_serves_template_is_pinned() -> None:
    # Ray Serve's own template: a new all-interfaces listener in a Ray upgrade shows up here.
    text = re.sub(r"\{\{ config\.(\w+_port) \}\}", "1234", HAPROXY_CONFIG_TEMPLATE)
    hostless = [line for line in text.splitlines() if re.match(r"\s*bind\s+\*?:", line)]
    assert len(hostless) == 2  # the Prometheus listener and the stats page
    pinned = haproxy.pin_to_loopback(text)
    assert not [line for line in pinned.splitlines() if re.match(r"\s*bind\s+\*?:", line)]
    assert pinned.count("bind 127.0.0.1:1234") == 2


BACKEND = """global
    maxconn 4096
    nbthread 4
defaults
    mode http
    timeout connect 5s
    errorfile 502 /run/serve/500.http
    errorfile 503 /run/serve/500.http
backend http-rayline
    server SERVE_REPLICA_rayline-Ingress-a 127.0.0.1:8101 check observe layer4 error-limit 3
    server SERVE_REPLICA_rayline-Ingress-b 127.0.0.1:8102 check
    server SERVE_PROXY_ACTOR-fallback-x 127.0.0.1:8117 check backup
backend grpc-rayline
    server SERVE_REPLICA_rayline-Ingress-a 127.0.0.1:9101 proto h2 check observe layer4
"""


def test_replicas_get_a_connection_limit_a_queue_timeout_and_a_real_503() -> None:
    limited = haproxy.limit_replicas(BACKEND, Path("/run/serve/503.http"))
    servers = [line for line in limited.splitlines() if line.strip().startswith("server ")]
    assert [line.endswith(f" maxconn {haproxy.SERVER_MAXCONN}") for line in servers] == [
        True,
        True,
        False,  # the backup proxy is used only when no replica is up
        False,  # gRPC (h2) servers are left as Ray renders them
    ]
    assert limited.count(f"timeout queue {haproxy.QUEUE_TIMEOUT_S}s") == 1
    assert "errorfile 503 /run/serve/503.http" in limited
    assert "errorfile 502 /run/serve/500.http" in limited  # a dead replica's 502 stays a 500
    assert (
        "\n    maxconn 4096\n    tune.pool-low-fd-ratio 80\n    tune.pool-high-fd-ratio 90\n"
        in (limited)
    )  # in the global section: connections to the replicas stay reused under load
    assert haproxy.limit_replicas(limited, Path("/run/serve/503.http")) == limited


def test_haproxys_own_503_is_a_complete_response_with_retry_after() -> None:
    head, _, body = haproxy.unavailable_response().partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 503 Service Unavailable"
    headers = dict(line.split(": ", 1) for line in lines[1:])
    assert headers["Retry-After"] == str(haproxy.RETRY_AFTER_S)
    assert int(headers["Content-Length"]) == len(body)
    assert "retry" in json.loads(body)["detail"]


def test_ray_serves_template_still_has_what_limit_replicas_rewrites() -> None:
    # A Ray upgrade that renames these lines would silently drop the limits: fail here instead
    # (tests/integration/test_reliability.py checks the limits of a running stack's HAProxy).
    assert "errorfile 503 {{ config.error_file_path }}" in HAPROXY_CONFIG_TEMPLATE
    assert re.search(r"^\s*timeout connect ", HAPROXY_CONFIG_TEMPLATE, re.MULTILINE)
    assert re.search(
        r"^global\n(.*\n)*?    maxconn \{\{ config.maxconn \}\}$", HAPROXY_CONFIG_TEMPLATE, re.M
    )
    assert "fd-ratio" not in HAPROXY_CONFIG_TEMPLATE
    assert "server {{ server.name }} {{ server.host }}:{{ server.port }} check" in (
        HAPROXY_CONFIG_TEMPLATE
    )


def test_main_rewrites_the_config_then_becomes_the_bundled_binary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "haproxy.cfg"
    config.write_text(CONFIG)
    calls: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(haproxy.os, "execv", lambda path, argv: calls.append((path, argv)))
    haproxy.main(["-db", "-f", str(config), "-dR"])
    assert "bind :9101" not in config.read_text()
    assert "bind 127.0.0.1:9101" in config.read_text()
    assert (tmp_path / "503.http").read_bytes() == haproxy.unavailable_response()
    ((path, argv),) = calls
    assert Path(path).name == "haproxy" and Path(path).is_file()
    assert argv == [path, "-db", "-f", str(config), "-dR"]


def test_the_head_runs_serve_behind_haproxy_with_its_listeners_on_free_ports(
    tmp_path: Path,
) -> None:
    env = stack.ray_env(Settings(home=tmp_path))
    assert env["RAY_SERVE_ENABLE_HA_PROXY"] == "1"
    assert env["RAY_SERVE_THROUGHPUT_OPTIMIZED"] == "1"
    assert Path(env["RAY_SERVE_HAPROXY_BINARY_PATH"]).name == "rayline-haproxy"
    ports = {env["RAY_SERVE_HAPROXY_STATS_PORT"], env["RAY_SERVE_HAPROXY_METRICS_PORT"]}
    assert len(ports) == 2 and not ports & {"8404", "9101"}
    # Each stack's ingress replicas and fallback proxy take ports next to its own Serve port,
    # not Ray's defaults, which every cluster on the machine would share.
    assert env["RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT"] == "8001"
    assert env["RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT"] == "8016"
    assert env["RAY_SERVE_FALLBACK_PROXY_HTTP_PORT"] == "8017"
    # gRPC the same, from the gRPC port (9000) on.
    assert env["RAY_SERVE_DIRECT_INGRESS_MIN_GRPC_PORT"] == "9001"
    assert env["RAY_SERVE_DIRECT_INGRESS_MAX_GRPC_PORT"] == "9016"
    assert env["RAY_SERVE_FALLBACK_PROXY_GRPC_PORT"] == "9017"


def test_stacks_that_run_side_by_side_have_disjoint_serve_ports() -> None:
    # Serve binds its HTTP ports with SO_REUSEPORT, so a port two stacks share is not an error
    # but a coin toss over which stack answers. The dev stack (`make up`), the test stacks and
    # the bench stacks each own the Serve port and the 17 after it; no other fixed port of any
    # of them may fall in another's block.
    unset = [name for name in os.environ if name.startswith("RAYLINE_")]
    with environ({}, unset):  # `make up` with no RAYLINE_* settings: Settings' defaults
        assert PROFILES["dev"] == PortProfile.from_settings("dev", Settings(_env_file=None))
    assert {"dev", "test", "production-test", "chaos", "bench-platform"} <= set(PROFILES)
    for name, one in PROFILES.items():
        settings = Settings(serve_port=one.serve_port)
        ray_env = stack.ray_env(settings)
        assert {
            int(ray_env[f"RAY_SERVE_{k}_{protocol}_PORT"])
            for k in ("DIRECT_INGRESS_MIN", "DIRECT_INGRESS_MAX", "FALLBACK_PROXY")
            for protocol in ("HTTP", "GRPC")
        } | {one.serve_port, settings.grpc_port} <= set(one.serve_block()), name
        assert one.ray_client_port not in RAY_WORKER_PORTS, name
        for other in PROFILES.values():
            if other != one:
                clash = set(one.serve_block()) & set(other.ports().values())
                assert not clash, f"{other.name} uses {sorted(clash)}, in {name}'s Serve ports"


def test_a_profile_puts_a_stack_on_its_ports(tmp_path: Path) -> None:
    chaos = profile("chaos")
    settings = chaos.settings(home=tmp_path)
    assert PortProfile.from_settings("chaos", settings) == chaos
    assert chaos.env()["RAYLINE_SERVE_PORT"] == "8080"
    with pytest.raises(ValueError, match="one of dev, test"):
        profile("nope")


def test_a_stack_on_a_profile_gets_its_own_settings_and_leaves_the_environment_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAYLINE_API_KEYS", "admin:the-callers")
    monkeypatch.delenv("RAYLINE_EXPERIMENT", raising=False)
    before = dict(os.environ)
    local = LocalStack.from_profile(
        profile("chaos"),
        tmp_path,
        {"RAYLINE_EXPERIMENT": "side"},
        unset=["RAYLINE_API_KEYS"],
        predictor_config={"poll_interval_s": 1},
    )
    assert (local.settings.serve_port, local.settings.home) == (8080, tmp_path)
    assert local.settings.api_keys is None and local.settings.experiment == "side"
    assert dict(os.environ) == before  # nothing changes until `up`
    assert local.env["RAY_ADDRESS"] == "http://127.0.0.1:8306"
    assert "RAYLINE_API_KEYS" not in local.env
    local.enter_environment()
    assert os.environ["RAYLINE_SERVE_PORT"] == "8080" and "RAYLINE_API_KEYS" not in os.environ
    local.leave_environment()
    assert dict(os.environ) == before

    config = local.serve_config(["iris"], {"num_cpus": 0.5})
    assert config["http_options"]["port"] == 8080
    assert config["grpc_options"]["port"] == 9080
    app = config["applications"][0]
    assert app["args"]["models"] == [{"name": "iris", "alias": "champion"}]
    (ingress,) = [d for d in app["deployments"] if d["name"] == "Ingress"]
    assert ingress["user_config"]["predictor"]["poll_interval_s"] == 1
    assert ingress["user_config"]["predictor"]["max_batch_size"] == 256  # the rest as shipped
    assert ingress["ray_actor_options"]["num_cpus"] == 0.5
