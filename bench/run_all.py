"""`make bench`: every benchmark in turn, then the table for the README.

    python -m bench.run_all [--only serving,training,platform]

Needs the local stack (`make up`; `make bench` starts it). Writes bench/results/<name>.json
and <name>.png; never asserts a time.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

from bench import report, run_platform, run_serving, run_training
from rayline.settings import get_settings

BENCHMARKS: dict[str, Callable[..., dict[str, Any]]] = {
    "serving": run_serving.run,
    "training": run_training.run,
    "platform": run_platform.run,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run_all", description=__doc__)
    parser.add_argument(
        "--only", default=",".join(BENCHMARKS), help="comma-separated subset of benchmarks"
    )
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    settings = get_settings()
    started = time.perf_counter()
    for name in chosen:
        began = time.perf_counter()
        BENCHMARKS[name](settings)
        print(f"[bench] {name} took {time.perf_counter() - began:.0f}s", flush=True)
    print(f"[bench] all done in {time.perf_counter() - started:.0f}s\n", flush=True)
    print(report.markdown_table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
