"""The soak (issue #17, part 8): the load phase's steady load, 0.5·C (the rate the fault phases
use: a closed loop's knee overstates what an open loop holds on this machine, and 0.7·C queued
for seconds in one run), held for `Plan.soak_s` with the rest of a working day's traffic beside
the predictions: registry reads every
`Plan.registry_read_every_s`, a promotion of the served alias every `Plan.promote_every_s`
(between versions 1 and 2 once version 2 exists, version 1 before), and a training job that
registers version 2 (submitted with `ray job submit` as the soak starts). Memory is measured
from the end of `Plan.soak_warmup_s` (every library and both versions loaded) to the end.

`soak_5xx` counts every request of the soak that failed on the server's side: a 5xx or a
transport error (a timeout or a dropped connection is worse than a 5xx) among the predictions,
the registry reads and the promotions."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from bench.chaos import faults
from bench.chaos.env import ChaosStack
from bench.chaos.figures import Plan, final_counts
from bench.chaos.load import TRANSPORT_ERROR, Request
from bench.train_config import write_config

ALIAS = "champion"
"""The alias the predictions follow (`/v1/models/{name}/predict` serves it)."""


@dataclass
class SideTraffic:
    """What the soak sent beside the predictions, as (seconds into the soak, status)."""

    registry_reads: list[tuple[float, int]] = field(default_factory=list)
    promotions: list[tuple[float, str, int]] = field(default_factory=list)
    training: dict[str, Any] = field(default_factory=dict)
    snapshots: dict[str, Any] = field(default_factory=dict)


def server_failure(status: int) -> bool:
    return status >= 500 or status == TRANSPORT_ERROR


async def call(
    stack: ChaosStack, method: str, path: str, body: Any = None, key: str = "admin"
) -> int:
    """One API call's status; TRANSPORT_ERROR if it got no answer (refused, reset, timed out)."""
    try:
        answer = await asyncio.to_thread(
            lambda: stack.http(method, path, body, key=key, timeout=60)
        )
    except OSError:
        return TRANSPORT_ERROR
    return int(answer[0])


async def side_traffic(stack: ChaosStack, plan: Plan, model: str) -> SideTraffic:
    """Registry reads, promotions, one training job and the replica snapshots (start, end of
    warm-up, end) for `plan.soak_s` seconds from now."""
    side = SideTraffic()
    t0 = time.monotonic()
    side.snapshots["start"] = await asyncio.to_thread(faults.replica_snapshot, stack)

    def train() -> None:
        started = time.monotonic()
        config = write_config(
            stack.configs, model, search={"num_samples": 2}, registration={"promote": "never"}
        )
        done = stack.train(config, "--force", check=False)
        side.training = {
            "registered": "version 2" in done.stdout,
            "returncode": done.returncode,
            "seconds": round(time.monotonic() - started, 1),
            "submitted_at_s": round(started - t0, 1),
        }

    training = asyncio.create_task(asyncio.to_thread(train))

    async def read_registry() -> None:
        paths = ("/v1/models", f"/v1/models/{model}/versions")
        index = 0
        while time.monotonic() - t0 < plan.soak_s:
            path = paths[index % len(paths)]
            status = await call(stack, "GET", path, key="predict")
            side.registry_reads.append((round(time.monotonic() - t0, 1), status))
            index += 1
            await asyncio.sleep(plan.registry_read_every_s)

    async def promote() -> None:
        served = "1"
        for minute in range(1, int(plan.soak_s // plan.promote_every_s) + 1):
            await asyncio.sleep(max(0.0, t0 + minute * plan.promote_every_s - time.monotonic()))
            if time.monotonic() - t0 >= plan.soak_s - 1:
                break
            target = "2" if served == "1" and side.training.get("registered") else "1"
            path = f"/v1/models/{model}/aliases/{ALIAS}"
            status = await call(stack, "POST", path, {"version": target})
            side.promotions.append((round(time.monotonic() - t0, 1), target, status))
            if status == 200:
                served = target

    async def snapshot_at(name: str, seconds: float) -> None:
        await asyncio.sleep(max(0.0, t0 + seconds - time.monotonic()))
        side.snapshots[name] = await asyncio.to_thread(faults.replica_snapshot, stack)

    await asyncio.gather(
        read_registry(),
        promote(),
        snapshot_at("warm", plan.soak_warmup_s),
        snapshot_at("end", plan.soak_s - 1),
    )
    await training
    # Later phases expect version 1 served, as the setup left it.
    if any(target == "2" and status == 200 for _, target, status in side.promotions):
        await call(stack, "POST", f"/v1/models/{model}/aliases/{ALIAS}", {"version": "1"})
    return side


def soak_figures(predictions: list[Request], side: SideTraffic, plan: Plan) -> dict[str, Any]:
    """The soak's report: every request's outcome, failures on the server's side, replica
    restarts over the whole soak and memory growth after the warm-up."""
    reads = [status for _, status in side.registry_reads]
    promotions = [status for _, _, status in side.promotions]
    failures = (
        sum(server_failure(r.final) for r in predictions)
        + sum(map(server_failure, reads))
        + sum(map(server_failure, promotions))
    )
    snapshots = side.snapshots
    whole = faults.replica_changes(snapshots.get("start", {}), snapshots.get("end", {}))
    after_warmup = faults.replica_changes(snapshots.get("warm", {}), snapshots.get("end", {}))
    return {
        "seconds": plan.soak_s,
        "warmup_s": plan.soak_warmup_s,
        "predictions": len(predictions),
        "prediction_statuses": final_counts(predictions),
        "registry_reads": len(reads),
        "registry_read_statuses": {str(s): reads.count(s) for s in sorted(set(reads))},
        "promotions": [
            {"t": t, "version": version, "status": status} for t, version, status in side.promotions
        ],
        "training_job": side.training,
        "soak_5xx": failures,
        "replica_restarts": whole["replica_restarts"],
        "crashed": whole["crashed"],
        "rss_after_warmup_bytes": after_warmup["rss_start_bytes"],
        "rss_end_bytes": after_warmup["rss_end_bytes"],
        "soak_memory_growth_pct": after_warmup["memory_growth_pct"],
        "replicas": snapshots,
    }
