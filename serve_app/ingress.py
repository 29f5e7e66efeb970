"""Ingress deployment: the HTTP and gRPC APIs inside a Serve replica, and the models it serves.

Request flow: HAProxy (Ray Serve's) → an `Ingress` replica (auth, limits, parsing:
`serve_app.http`) → a route of `serve_app.routes` → this replica's `Predictor` (in process:
no Ray call) for predictions, MLflow for the registry, Ray's job API for jobs, the `Metrics`
deployment for metrics. A V2 gRPC call (serve_config.yaml `grpc_options`) arrives at the
method named as its RPC, which hands it to `serve_app.grpc_v2`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ray import serve
from ray.serve.config import BackpressureConfig
from starlette.applications import Starlette

from rayline.keys import KEYS_REFRESH_S, KeyRing
from rayline.registry import Registry
from rayline.request_metrics import Delta
from rayline.settings import Settings, get_settings
from rayline.state import open_store
from rayline.state.access import AuditLog, KeyStore
from serve_app import grpc_v2
from serve_app.http.app import Context, create_app
from serve_app.jobs import Jobs
from serve_app.predictor import Predictor
from serve_app.schemas import AppArgs, IngressConfig

log = logging.getLogger("ray.serve")


# HAProxy opens at most `rayline.haproxy.SERVER_MAXCONN` connections to a replica and queues
# the rest itself (503 with Retry-After after a while). What still reaches a replica beyond
# max_ongoing_requests (a larger limit, or through Serve's fallback proxy) queues here, bounded:
# past it the replica answers 503 with Retry-After at once. serve_config.yaml may override both.
@serve.deployment(
    name="Ingress",
    max_queued_requests=128,
    backpressure_config=BackpressureConfig(status_code=503, retry_after_s=1),
)
@serve.ingress()
class Ingress:
    """The ingress replica: builds the `Context` and the app; flushes the request counters."""

    async def __init__(  # type: ignore[misc]  # Serve awaits an async constructor
        self, metrics: Any, args: dict[str, Any]
    ) -> None:
        settings = get_settings()
        store = await asyncio.to_thread(open_store, settings)
        self._key_store = KeyStore(store.engine)
        # Handles create their router on first use, which asks the GCS; do it now, so that no
        # request waits on it (during a GCS outage that first use stalls for ~40 s).
        self.context = Context(
            args=AppArgs.model_validate(args),
            settings=settings,
            keys=await asyncio.to_thread(self._load_keys, settings),
            registry=Registry(settings.tracking_uri),
            jobs=Jobs(settings),
            predictor=Predictor(),
            metrics=metrics.options(),
            audit=AuditLog(store.engine),
        )
        self.context.predictor.unmonitored = {
            m.name for m in self.context.args.models if not m.monitoring.enabled
        }
        self._asgi = create_app(self.context)
        loop = asyncio.get_running_loop()
        self._flusher = loop.create_task(self._flush())
        self._key_refresher = loop.create_task(self._refresh_keys(settings))
        # The served models load before the replica takes requests (waiting out an MLflow
        # outage for a while), so that no replica answers 503 where the others answer 200.
        await self.context.predictor.preload([m.model_id for m in self.context.args.models])

    def reconfigure(self, user_config: dict[str, Any]) -> None:
        """Apply `user_config` (`IngressConfig`); an unknown key or bad value fails the
        deployment with a message naming it."""
        self.context.predictor.reconfigure(IngressConfig.from_user_config(user_config).predictor)

    def __serve_build_asgi_app__(self) -> Starlette:
        return self._asgi

    # --- the Open Inference Protocol over gRPC: Serve calls the method named as the RPC -----
    async def ServerLive(self, request: Any, grpc_context: Any) -> Any:
        return await grpc_v2.serve_rpc(
            self.context, "ServerLive", grpc_v2.server_live, request, grpc_context, None
        )

    async def ServerReady(self, request: Any, grpc_context: Any) -> Any:
        return await grpc_v2.serve_rpc(
            self.context, "ServerReady", grpc_v2.server_ready, request, grpc_context, None
        )

    async def ServerMetadata(self, request: Any, grpc_context: Any) -> Any:
        return await grpc_v2.serve_rpc(
            self.context, "ServerMetadata", grpc_v2.server_metadata, request, grpc_context, None
        )

    async def ModelReady(self, request: Any, grpc_context: Any) -> Any:
        return await grpc_v2.serve_rpc(
            self.context, "ModelReady", grpc_v2.model_ready, request, grpc_context, "predict"
        )

    async def ModelMetadata(self, request: Any, grpc_context: Any) -> Any:
        return await grpc_v2.serve_rpc(
            self.context, "ModelMetadata", grpc_v2.model_metadata_rpc, request, grpc_context,
            "predict",
        )  # fmt: skip

    async def ModelInfer(self, request: Any, grpc_context: Any) -> Any:
        return await grpc_v2.serve_rpc(
            self.context, "ModelInfer", grpc_v2.model_infer, request, grpc_context, "predict"
        )

    def _load_keys(self, settings: Settings) -> KeyRing:
        return KeyRing.from_env(settings, self._key_store.active())

    async def _refresh_keys(self, settings: Settings) -> None:
        """Reload the keys every `KEYS_REFRESH_S`, so that a key added or revoked with
        `python -m rayline.stack keys` counts here within about that, without a redeploy. While
        the state database does not answer, the keys last read stay."""
        failing = False
        while True:
            await asyncio.sleep(KEYS_REFRESH_S)
            try:
                self.context.keys = await asyncio.to_thread(self._load_keys, settings)
            except Exception as exc:
                if not failing:
                    log.warning("cannot reload the API keys, keeping the last ones: %s", exc)
                failing = True
            else:
                failing = False

    async def _flush(self) -> None:
        """Hand the request counters and the live profiles to the Metrics deployment every
        `flush_interval_s`."""
        context = self.context
        while True:
            await asyncio.sleep(context.args.flush_interval_s)
            delta, context.delta = context.delta, Delta()
            delta.live = context.predictor.tap.drain()
            if not delta.empty():
                context.metrics.ingest.remote(delta)
