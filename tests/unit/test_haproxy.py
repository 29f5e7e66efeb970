from __future__ import annotations

import re
from pathlib import Path

import pytest
from ray.serve._private.haproxy_templates import HAPROXY_CONFIG_TEMPLATE

from rayline import haproxy, stack
from rayline.settings import Settings

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


def test_every_hostless_bind_in_ray_serves_template_is_pinned() -> None:
    # Ray Serve's own template: a new all-interfaces listener in a Ray upgrade shows up here.
    text = re.sub(r"\{\{ config\.(\w+_port) \}\}", "1234", HAPROXY_CONFIG_TEMPLATE)
    hostless = [line for line in text.splitlines() if re.match(r"\s*bind\s+\*?:", line)]
    assert len(hostless) == 2  # the Prometheus listener and the stats page
    pinned = haproxy.pin_to_loopback(text)
    assert not [line for line in pinned.splitlines() if re.match(r"\s*bind\s+\*?:", line)]
    assert pinned.count("bind 127.0.0.1:1234") == 2


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


def test_stacks_that_run_side_by_side_have_disjoint_serve_ports() -> None:
    # Serve binds its HTTP ports with SO_REUSEPORT, so a port two stacks share is not an error
    # but a coin toss over which stack answers. The dev stack (`make up`), the test stacks and
    # the bench stacks each own the Serve port and the 17 after it; no other fixed port of any
    # of them may fall in another's block.
    from bench.chaos_env import PORTS as chaos
    from bench.run_platform import COLD_ENV as platform
    from tests.ports import PRODUCTION as production
    from tests.ports import SCALE_OUT as scale_out
    from tests.stack import PORTS as session

    dev = {k: v for k, v in Settings().model_dump().items() if k.endswith("_port")}
    stacks = {
        "make up": dev,
        "tests/stack.py": session,
        "test_production": production,
        "test_scale_out": scale_out,
        "bench/chaos_env.py": chaos,
        "bench/run_platform.py": platform,
    }
    blocks = {}
    for name, ports in stacks.items():
        serve = int(next(v for k, v in ports.items() if "SERVE" in k.upper()))
        ray_env = stack.ray_env(Settings(serve_port=serve))
        block = set(range(serve, serve + 18))
        assert set(
            ray_env[f"RAY_SERVE_{k}_HTTP_PORT"]
            for k in ("DIRECT_INGRESS_MIN", "DIRECT_INGRESS_MAX", "FALLBACK_PROXY")
        ) <= {str(p) for p in block}
        blocks[name] = block
    for name, block in blocks.items():
        for other, ports in stacks.items():
            if other != name:
                clash = block & {int(v) for v in ports.values() if str(v).isdigit()}
                assert not clash, f"{other} uses {sorted(clash)}, in {name}'s Serve ports"
