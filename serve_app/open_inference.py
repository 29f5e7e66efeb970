"""The Open Inference Protocol (KServe V2) without its transport: tensors in, tensors out.

HTTP (`serve_app.routes.v2`, JSON and the binary tensor data extension) and gRPC
(`serve_app.grpc_v2`) both turn their requests into `Tensor`s, call `rows_of` to get the
`Rows` every protocol predicts on, and build their answers from `outputs_of` and
`model_metadata`. Spec: https://github.com/kserve/open-inference-protocol (REST, gRPC and
binary tensor data extension).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from rayline.errors import BadRequest, InvalidRows
from rayline.rows import Rows

Datatype = Literal[
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
    "BYTES",
]
DTYPES: dict[str, np.dtype[Any] | None] = {
    "BOOL": np.dtype("?"),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
    "BYTES": None,
}
"""Every V2 datatype → its little-endian numpy dtype (the binary extension's layout); BYTES
elements are length-prefixed strings instead."""
SIGNATURE_DATATYPES = {
    "double": "FP64",
    "float": "FP32",
    "long": "INT64",
    "integer": "INT32",
    "string": "BYTES",
    "boolean": "BOOL",
}
"""MLflow signature column type → the V2 datatype the model metadata reports for it."""
PREDICT = "predict"
PREDICT_PROBA = "predict_proba"
EXTENSIONS = ("binary_tensor_data",)
"""The protocol extensions this server implements (`GET /v2`, ServerMetadata)."""
_EXACT_INT = 2**53


@dataclass
class Tensor:
    """One input or output tensor: `values` is flat, row-major (a numpy array, or a list of
    str for BYTES)."""

    name: str
    datatype: str
    shape: list[int]
    values: Any
    parameters: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.values)


# --- inputs --------------------------------------------------------------------------------
def input_tensor(
    name: str, datatype: str, shape: Sequence[int], data: Any, parameters: Mapping[str, Any]
) -> Tensor:
    """An input given as JSON `data` (flat or nested), checked against its datatype and shape;
    400 or 422 naming the input otherwise."""
    dtype = dtype_of(name, datatype)
    count = _count(name, shape)
    flat = _flatten(data)
    if len(flat) != count:
        raise BadRequest(f"input {name}: shape {list(shape)} needs {count} values, got {len(flat)}")
    if dtype is None:
        if not all(isinstance(v, str) for v in flat):
            raise InvalidRows(f"input {name}: datatype BYTES expects strings")
        return Tensor(name, datatype, list(shape), flat, dict(parameters))
    return Tensor(
        name, datatype, list(shape), _array(name, datatype, dtype, flat), dict(parameters)
    )


def binary_input(
    name: str, datatype: str, shape: Sequence[int], raw: bytes, parameters: Mapping[str, Any]
) -> Tensor:
    """An input given as raw bytes (binary tensor data extension, or gRPC's
    `raw_input_contents`): little-endian elements, BYTES as 4-byte-length-prefixed strings."""
    dtype = dtype_of(name, datatype)
    count = _count(name, shape)
    if dtype is None:
        values = _unpack_bytes(name, raw)
        if len(values) != count:
            raise BadRequest(
                f"input {name}: shape {list(shape)} needs {count} values, got {len(values)}"
            )
        return Tensor(name, datatype, list(shape), values, dict(parameters))
    if len(raw) != count * dtype.itemsize:
        raise BadRequest(
            f"input {name}: shape {list(shape)} of {datatype} needs {count * dtype.itemsize} "
            f"bytes, got {len(raw)}"
        )
    return Tensor(name, datatype, list(shape), np.frombuffer(raw, dtype=dtype), dict(parameters))


def rows_of(tensors: Sequence[Tensor]) -> Rows:
    """One tensor of shape [N, F] (features in the model signature's order), or one tensor of
    shape [N] (or [N, 1]) per column, named as the column."""
    if not tensors:
        raise BadRequest("inputs: give at least one input tensor")
    if len(tensors) == 1 and len(tensors[0].shape) == 2 and tensors[0].shape[1] != 1:
        tensor = tensors[0]
        rows, width = tensor.shape
        if isinstance(tensor.values, np.ndarray) and _exact_floats(tensor.values):
            return Rows(None, [], numbers=tensor.values.astype(np.float64).reshape(rows, width))
        flat = _plain(tensor.values)
        return Rows(None, [flat[i * width : (i + 1) * width] for i in range(rows)])
    columns: dict[str, list[Any]] = {}
    for tensor in tensors:
        if len(tensor.shape) > 2 or (len(tensor.shape) == 2 and tensor.shape[1] != 1):
            raise BadRequest(
                f"input {tensor.name}: shape {tensor.shape}; with several inputs each is one "
                "column of shape [N] or [N, 1]"
            )
        if tensor.name in columns:
            raise BadRequest(f"input {tensor.name}: given twice")
        columns[tensor.name] = _plain(tensor.values)
    return Rows.from_columns(columns)


# --- outputs -------------------------------------------------------------------------------
def output_names(requested: Sequence[str] | None, available: Sequence[str]) -> list[str]:
    """The outputs to answer: those requested (400 for one the model has not), else all."""
    if requested is None:
        return list(available)
    for name in requested:
        if name not in available:
            raise BadRequest(f"output {name}: this model's outputs are {', '.join(available)}")
    return list(dict.fromkeys(requested))


def wants_proba(requested: Sequence[str] | None) -> bool:
    """Whether to ask the model for probabilities: all outputs, or any but `predict` (an
    unknown name too, so that `output_names` can list what the model really has)."""
    return requested is None or any(name != PREDICT for name in requested)


def available_outputs(probabilities: bool) -> list[str]:
    return [PREDICT, PREDICT_PROBA] if probabilities else [PREDICT]


def predict_datatype(classes: Sequence[Any] | None) -> Datatype:
    """What `predict` returns: the classes' type for a classifier, FP64 for a regressor."""
    if not classes:
        return "FP64"
    first = classes[0]
    if isinstance(first, bool):
        return "BOOL"
    if isinstance(first, int):
        return "INT64"
    return "FP64" if isinstance(first, float) else "BYTES"


def outputs_of(result: Mapping[str, Any], names: Sequence[str]) -> list[Tensor]:
    """The predictor's answer as the output tensors `names` (`output_names`)."""
    predictions = result["predictions"]
    tensors = []
    for name in names:
        if name == PREDICT:
            datatype = predict_datatype(result["classes"])
            dtype = DTYPES[datatype]
            values = predictions if dtype is None else np.asarray(predictions, dtype=dtype)
            tensors.append(Tensor(PREDICT, datatype, [len(predictions)], values))
        else:
            proba = np.asarray(result["probabilities"], dtype=np.float64)
            tensors.append(Tensor(PREDICT_PROBA, "FP64", list(proba.shape), proba.reshape(-1)))
    return tensors


def json_data(tensor: Tensor) -> list[Any]:
    """A tensor's values as a flat JSON list (floats at full precision)."""
    return _plain(tensor.values)


def raw_bytes(tensor: Tensor) -> bytes:
    """A tensor's values in the binary extension's layout."""
    if DTYPES[tensor.datatype] is None:
        return b"".join(
            struct.pack("<I", len(b)) + b for b in (str(v).encode() for v in tensor.values)
        )
    return np.ascontiguousarray(tensor.values).tobytes()


# --- metadata ------------------------------------------------------------------------------
def model_metadata(status: Mapping[str, Any]) -> dict[str, Any]:
    """The V2 model metadata of a ready model (`Predictor.status`): its inputs as one [N]
    tensor per signature column, its outputs exactly as inference returns them."""
    inputs = [
        {
            "name": c["name"],
            "datatype": SIGNATURE_DATATYPES.get(c["type"], "BYTES"),
            "shape": [-1],
        }
        for c in status["inputs"]
    ]
    outputs = [{"name": PREDICT, "datatype": predict_datatype(status["classes"]), "shape": [-1]}]
    if status["probabilities"]:
        width = len(status["classes"] or ())
        outputs.append({"name": PREDICT_PROBA, "datatype": "FP64", "shape": [-1, width]})
    return {
        "name": status["name"],
        "versions": [status["version"]],
        "platform": "sklearn",
        "inputs": inputs,
        "outputs": outputs,
    }


# --- helpers -------------------------------------------------------------------------------
def dtype_of(name: str, datatype: str) -> np.dtype[Any] | None:
    """The numpy dtype of input `name`'s datatype (None for BYTES); 400 for an unknown one,
    naming the input and the datatypes, never repeating what was sent."""
    if datatype not in DTYPES:
        raise BadRequest(f"input {name}: datatype must be one of {', '.join(DTYPES)}")
    return DTYPES[datatype]


def _count(name: str, shape: Sequence[int]) -> int:
    if not shape or any(d < 0 for d in shape):
        raise BadRequest(f"input {name}: shape must list one or more sizes, none negative")
    return math.prod(shape)


def _flatten(data: Any) -> list[Any]:
    if not isinstance(data, list):
        return [data]
    if not any(isinstance(v, list) for v in data):
        return data
    flat: list[Any] = []
    for item in data:
        flat.extend(_flatten(item))
    return flat


_KINDS = {"b": "booleans (true or false)", "u": "integers", "i": "integers", "f": "numbers"}


def _array(name: str, datatype: str, dtype: np.dtype[Any], flat: list[Any]) -> np.ndarray:
    """JSON values as an array of `dtype`, each checked: bools only for BOOL, whole numbers in
    range for integer types, finite-or-not numbers for FP types."""
    kind = dtype.kind
    if kind == "b":
        ok = all(isinstance(v, bool) for v in flat)
    elif kind in "iu":
        ok = all(isinstance(v, int) and not isinstance(v, bool) for v in flat)
        if ok and flat:
            info = np.iinfo(dtype)
            ok = info.min <= min(flat) and max(flat) <= info.max
    else:
        ok = all(isinstance(v, int | float) and not isinstance(v, bool) for v in flat)
    if not ok:
        raise InvalidRows(f"input {name}: datatype {datatype} expects {_KINDS[kind]} in range")
    with np.errstate(over="ignore"):
        return np.asarray(flat, dtype=dtype)


def _unpack_bytes(name: str, raw: bytes) -> list[str]:
    values, offset = [], 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise BadRequest(f"input {name}: BYTES data ends inside an element's length")
        (size,) = struct.unpack_from("<I", raw, offset)
        offset += 4
        if offset + size > len(raw):
            raise BadRequest(f"input {name}: BYTES element longer than the data left")
        try:
            values.append(raw[offset : offset + size].decode("utf-8"))
        except UnicodeDecodeError:
            raise InvalidRows(f"input {name}: BYTES elements must be UTF-8 text") from None
        offset += size
    return values


def _exact_floats(values: np.ndarray) -> bool:
    """Numbers that float64 holds exactly and that no model input refuses (finite, not huge)."""
    if values.dtype.kind in "iu":
        return bool(values.size == 0 or np.abs(values).max() <= _EXACT_INT)
    if values.dtype.kind == "f":
        return bool(np.all(np.abs(values.astype(np.float64)) <= 1e300))  # NaN and inf fail
    return False


def _plain(values: Any) -> list[Any]:
    return values.tolist() if isinstance(values, np.ndarray) else list(values)
