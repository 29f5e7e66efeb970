"""The serving benchmark's load generator (`bench.wrk`) against a real local HTTP server, and
the figures `bench.run_serving` computes from its runs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bench import report, run_serving, wrk


class _Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as wrk expects
    status = 200
    seen: list[tuple[bytes, str | None, str | None]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).seen.append(
            (body, self.headers.get("Authorization"), self.headers.get("Content-Type"))
        )
        answer = b'{"predictions": [0]}'
        self.send_response(type(self).status)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, type[_Recorder]]]:
    handler = type("Handler", (_Recorder,), {"seen": [], "status": 200})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/predict?alias=champion", handler
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_wrk_sends_the_exact_request_and_reports_throughput_and_latency(
    server: tuple[str, type[_Recorder]],
) -> None:
    url, handler = server
    body = b'{"instances": [[1.5, "a]]b", 3]], "return_proba": true}'
    headers = {"Authorization": "Bearer k-1", "Content-Type": "application/json"}
    summary = wrk.run(url, body, headers, wrk.Load(connections=2, seconds=1))
    assert summary["requests"] > 0 and summary["errors"] == 0
    # wrk counts the answers within its run; up to one request per connection is cut off.
    assert summary["requests"] <= len(handler.seen) <= summary["requests"] + 2
    assert set(handler.seen) == {(body, "Bearer k-1", "application/json")}
    assert 0 < summary["p50_ms"] <= summary["p99_ms"] <= summary["p99_9_ms"]
    assert summary["throughput_rps"] == round(summary["requests"] / summary["duration_s"], 1)


def test_wrk_counts_error_statuses(server: tuple[str, type[_Recorder]]) -> None:
    url, handler = server
    handler.status = 503
    summary = wrk.run(url, b"{}", {}, wrk.Load(connections=1, seconds=1))
    assert summary["requests"] > 0 and summary["errors_status"] == summary["requests"]


def _scenario(rps: dict[str, float], rows: int, floor: float) -> dict[str, Any]:
    return {
        "predictions_agree": True,
        "servers": {
            name: {
                "summary": {
                    "throughput_rps": value,
                    "rows_per_s": value * rows,
                    "p50_ms": 2.0,
                    "p99_ms": 9.0,
                    "errors": 0,
                }
            }
            for name, value in rps.items()
        },
        "floor": {"rows_per_s": floor},
    }


def _result(scale: float) -> dict[str, Any]:
    c32 = {"rayline": 1200.0 * scale, "mlflow": 300.0, "lean": 600.0, "mlserver": 800.0}
    c32["rayline_unmonitored"] = 1250.0 * scale
    return {
        "scenarios": {
            "rows1_c1": _scenario(
                {"rayline": 200.0, "mlflow": 100.0, "lean": 300.0, "mlserver": 150.0}, 1, 1e3
            ),
            "rows1_c32": _scenario(c32, 1, 4e4),
            "rows1000_c4": _scenario(
                {"rayline": 20.0, "mlflow": 10.0, "lean": 15.0, "mlserver": 12.0}, 1000, 4e4
            ),
        },
        "open_loop": {
            "rayline": {"p99_ms": 10.0, "p50_ms": 3.0, "failed": 0},
            "mlflow": {"p99_ms": 40.0, "p50_ms": 8.0, "failed": 1},
        },
        "floor_batch32": {"rows_per_s": 24000.0},
    }


def test_serving_summary_has_every_ratio_for_both_models() -> None:
    summary = run_serving._summary({"bench_rf": _result(1.0), "bench_lr": _result(2.0)})
    assert summary["model"] == "bench_rf"
    assert summary["lean_ratio_c32"] == 2.0 and summary["mlserver_ratio_c32"] == 1.5
    assert summary["throughput_ratio_c32"] == 4.0 and summary["throughput_ratio_c1"] == 2.0
    assert summary["p99_ratio_open"] == 0.25 and summary["floor_fraction_c32"] == 0.05
    assert summary["rows_ratio_1000"] == 2.0 and summary["floor_fraction_1000"] == 0.5
    assert summary["monitoring_ratio_c32"] == 0.96
    assert summary["errors"] == 1 and summary["predictions_agree"] is True
    assert summary["lean_ratio_c32_lr"] == 4.0 and summary["rayline_rps_c32_lr"] == 2400.0
    # Every serving target of the README table has its figure, for each model.
    for key, (bench, _, _) in report.TARGETS.items():
        if bench == "serving":
            assert key in summary, key


def test_serving_chart_draws_every_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each model's throughput panel has a bar series per server that every scenario measured
    (the unmonitored Rayline runs at 32 connections only), its latency panel a p99 series per
    server, and the PNG is written."""
    document = {"raw": {"models": {"bench_rf": _result(1.0), "bench_lr": _result(2.0)}}}
    drawn: list[Any] = []
    save = report._save

    def keep(plt: Any, fig: Any, path: Path) -> Path:
        drawn.append(fig)
        return save(plt, fig, path)

    monkeypatch.setattr(report, "_save", keep)
    path = report.chart_serving(document, tmp_path)
    assert path.exists() and path.stat().st_size > 10_000
    servers = ["rayline", "mlflow", "lean", "mlserver"]
    (figure,) = drawn
    throughput, latency = figure.axes[:2], figure.axes[2:]
    for axis in throughput:
        assert [t.get_text() for t in axis.get_legend().get_texts()] == servers
    for axis in latency:
        legend = [t.get_text() for t in axis.get_legend().get_texts()]
        assert legend == [f"{server} p99" for server in servers]
