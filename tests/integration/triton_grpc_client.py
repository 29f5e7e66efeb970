"""An official V2 gRPC client (tritonclient.grpc) at its defaults against a Rayline stack, in
its own process: tritonclient and Rayline's generated stubs both define the `inference.*`
protobuf types, which one process cannot hold twice. Prints one JSON object of what it saw.

    python -m tests.integration.triton_grpc_client <host:port> <api key> <model>
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

SETOSA_VIRGINICA = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]])


def _error(call: Any) -> dict[str, str]:
    try:
        call()
    except InferenceServerException as exc:
        return {"status": str(exc.status()), "message": str(exc.message())}
    return {"status": "OK", "message": ""}


def main(target: str, key: str, model: str) -> dict[str, Any]:
    client = grpcclient.InferenceServerClient(url=target)
    auth = {"authorization": f"Bearer {key}"}
    seen: dict[str, Any] = {
        "live": client.is_server_live(),
        "ready": client.is_server_ready(),
        "server": client.get_server_metadata(as_json=True),
        "model_ready": client.is_model_ready(model, headers=auth),
        "metadata": client.get_model_metadata(model, headers=auth, as_json=True),
        "versioned_metadata": client.get_model_metadata(
            model, model_version="1", headers=auth, as_json=True
        ),
    }
    # One [N, F] tensor (raw bytes, as the client sends by default); both outputs.
    matrix = grpcclient.InferInput("x", [2, 4], "FP32")
    matrix.set_data_from_numpy(SETOSA_VIRGINICA.astype(np.float32))
    result = client.infer(model, [matrix], headers=auth, request_id="grpc-1")
    seen["infer"] = {
        "id": result.get_response().id,
        "version": result.get_response().model_version,
        "predict": result.as_numpy("predict").tolist(),
        "predict_proba": result.as_numpy("predict_proba").tolist(),
    }
    # One [N] tensor per column, asking for predict_proba only, on a version.
    columns = []
    for index, column in enumerate(seen["metadata"]["inputs"]):
        tensor = grpcclient.InferInput(column["name"], [2], "FP64")
        tensor.set_data_from_numpy(SETOSA_VIRGINICA[:, index].copy())
        columns.append(tensor)
    only = [grpcclient.InferRequestedOutput("predict_proba")]
    result = client.infer(model, columns, outputs=only, model_version="1", headers=auth)
    seen["columns"] = {
        "outputs": [o.name for o in result.get_response().outputs],
        "predict_proba": result.as_numpy("predict_proba").tolist(),
    }
    seen["errors"] = {
        "no_key": _error(lambda: client.get_model_metadata(model)),
        "wrong_key": _error(
            lambda: client.get_model_metadata(model, headers={"authorization": "Bearer no"})
        ),
        "unknown_model": _error(lambda: client.get_model_metadata("nope", headers=auth)),
        "unknown_output": _error(
            lambda: client.infer(
                model, [matrix], outputs=[grpcclient.InferRequestedOutput("scores")], headers=auth
            )
        ),
    }
    return seen


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:4])))
