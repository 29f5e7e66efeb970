"""Ray Job: score a CSV/Parquet file with a registered model and write Parquet.

    ray job submit -- python -m jobs.batch_predict --model breast_cancer@champion \\
        --input data.csv --output scores.parquet

Ray Data reads the input and runs `map_batches` on a pool of actors, each loading the model
with the same verified loader the Serve predictor uses.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
import ray

from rayline.config import DatasetConfig
from rayline.datasets import DatasetError, file_format, ray_dataset
from rayline.errors import InvalidRows
from rayline.inference import predict
from rayline.integrity import IntegrityError
from rayline.registry import Registry, RegistryError, parse_ref
from rayline.rows import Rows
from rayline.settings import get_settings


class Scorer:
    """One per actor: loads and verifies the model once, then scores batches."""

    def __init__(self, model_id: str, tracking_uri: str) -> None:
        name, ref = parse_ref(model_id)
        self.model = Registry(tracking_uri).load(name, ref)

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        columns = self.model.input_names or list(batch.columns)
        # check() makes all-numeric rows one float matrix: the predictor's one-step frame path.
        rows = Rows(columns, batch[columns].astype(object).values.tolist()).check(len(batch))
        result = predict(self.model, rows, want_proba=True)
        out = batch.copy()
        out["prediction"] = result["predictions"]
        if result["probabilities"] is not None:
            for index, label in enumerate(result["classes"] or []):
                out[f"proba_{label}"] = [p[index] for p in result["probabilities"]]
        out["model_version"] = self.model.version
        return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m jobs.batch_predict",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", required=True, help="NAME@ALIAS or NAME/VERSION")
    parser.add_argument("--input", required=True, help="CSV or Parquet path or s3:// URI")
    parser.add_argument("--output", required=True, help="folder to write Parquet files to")
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--actors", type=int, default=1, help="scoring actors")
    parser.add_argument(
        "--cpus",
        type=float,
        default=0.5,
        help="CPUs per scoring actor and per read task (fractions share a node "
        "with Serve replicas)",
    )
    args = parser.parse_args(argv)
    settings = get_settings()
    source = DatasetConfig(source=args.input, task="classification")
    try:
        name, ref = parse_ref(args.model)
        file_format(source)  # an unknown format is an error before any actor starts
        if not args.input.startswith("s3://") and not Path(args.input).exists():
            raise DatasetError(f"--input {args.input}: no such file")
        # Fail before starting actors if the model is missing or does not verify.
        model = Registry(settings.tracking_uri).load(name, ref)
    except (DatasetError, RegistryError, IntegrityError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    ray.init(log_to_driver=False)
    data = ray_dataset(source, settings, ray_remote_args={"num_cpus": args.cpus})
    missing = [c.name for c in model.inputs if c.name not in data.schema().names]
    if missing:
        print(
            f"error: {args.input}: missing column(s) the model needs: {', '.join(missing)}",
            file=sys.stderr,
        )
        return 2
    try:
        scored = data.map_batches(
            Scorer,
            fn_constructor_args=(args.model, settings.tracking_uri),
            batch_format="pandas",
            batch_size=args.batch_size,
            concurrency=args.actors,
            num_cpus=args.cpus,
        )
        scored.write_parquet(args.output)
    except InvalidRows as exc:  # the input does not match the model signature
        print(f"error: {args.input}: {exc.detail}", file=sys.stderr)
        return 2
    rows = ray.data.read_parquet(args.output).count()
    print(
        f"[rayline] scored {rows} rows with {model.name} version {model.version} "
        f"into {args.output}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
