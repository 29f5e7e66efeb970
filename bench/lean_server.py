"""The `lean` serving peer: what a user would write by hand, no framework, no batching, no auth.

    LEAN_MODEL_URI=models:/bench_lr@champion uvicorn bench.lean_server:app --workers 2

Each worker process loads the model once, at import, with `mlflow.sklearn.load_model`;
`POST /predict` takes `{"instances": [[...], ...]}` (rows in the signature's column order)
and answers `{"predictions": [...], "probabilities": [[...], ...]}` from one `predict_proba` call.
It is the cost floor of "no framework" in `bench.run_serving`.
"""

from __future__ import annotations

import json
import os
from typing import Any

import mlflow.sklearn
import pandas as pd
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

# Loaded at import: uvicorn imports this module once in each worker process.
_model: Any = mlflow.sklearn.load_model(os.environ["LEAN_MODEL_URI"])
_columns = [str(c) for c in _model.feature_names_in_]


async def predict(request: Request) -> Response:
    body = json.loads(await request.body())
    frame = pd.DataFrame(body["instances"], columns=_columns)
    proba = _model.predict_proba(frame)
    answer = {
        "predictions": _model.classes_[proba.argmax(axis=1)].tolist(),
        "probabilities": proba.tolist(),
    }
    return Response(json.dumps(answer), media_type="application/json")


async def ping(request: Request) -> Response:
    return Response("ok")


app = Starlette(routes=[Route("/predict", predict, methods=["POST"]), Route("/ping", ping)])
