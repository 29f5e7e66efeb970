"""Scoring rows with a loaded model: the signature check, coercion to the model's input types,
the input frame, and predict / predict_proba.

Every way of scoring shares this: the Serve predictor (all HTTP protocols), the batch job, and
the warm-up that vets a new model version before it is swapped in. Nothing here knows about
Ray or HTTP; errors are `rayline.errors` types that carry their status.

Values arrive in one of two forms (`Rows.text`):
- JSON values: a number column takes ints and floats (never booleans), a boolean column takes
  true/false, a text column takes strings.
- CSV cells, all text: each column is read by its signature type. `string` keeps the cell as
  written ("007" stays "007"); `boolean` takes true/false/1/0 in any case; `integer`/`long`
  take whole numbers ("3" or "3.0"), `float`/`double` any finite number; an empty cell in a
  number or boolean column is an error naming the column and row.
A model without a signature gets CSV cells that look like numbers as numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from rayline.errors import SignatureError
from rayline.estimators import CompiledPipeline, compile_pipeline
from rayline.registry import LoadedModel
from rayline.rows import Rows

FLOAT_TYPES = frozenset({"double", "float"})
INTEGER_TYPES = frozenset({"long", "integer"})
NUMBER_TYPES = FLOAT_TYPES | INTEGER_TYPES
_LARGEST = 1e300
"""Numbers beyond this (and NaN, infinities) are refused: no model was trained on them."""
_INT64 = 2**63
_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})


# --- the input frame ----------------------------------------------------------------------
def to_frame(rows: Rows, model: LoadedModel) -> pd.DataFrame:
    """Validate rows against the model signature and build the typed input frame."""
    fast = _numeric_frame(rows, model)
    if fast is not None:
        return fast
    expected = model.input_names
    data = rows.lists()
    if rows.columns is None:
        if expected and len(data[0]) != len(expected):
            raise SignatureError(
                f"each row needs {len(expected)} values in the order of "
                f"the model's columns; see GET /v1/models/{model.name}/schema"
            )
        columns = expected or [str(i) for i in range(len(data[0]))]
    else:
        columns = rows.columns
    if not expected:
        if rows.text:
            data = [[_guess(cell) for cell in row] for row in data]
        return pd.DataFrame(data, columns=columns)
    missing = [c.name for c in model.inputs if c.required and c.name not in columns]
    if missing:
        raise SignatureError(f"missing column(s): {', '.join(missing[:10])}", missing[0])
    unknown = [c for c in columns if c not in expected]
    if unknown:
        raise SignatureError(f"unknown column(s): {', '.join(map(str, unknown[:10]))}", unknown[0])
    frame = pd.DataFrame(data, columns=columns)
    coerce = _coerce_text if rows.text else _coerce
    for spec in model.inputs:
        if spec.name not in frame:
            frame[spec.name] = np.nan
            continue
        frame[spec.name] = coerce(frame[spec.name], spec.name, spec.type)
    return frame[expected]


def _numeric_frame(rows: Rows, model: LoadedModel) -> pd.DataFrame | None:
    """The common case in one step: an all-float signature, columns as the signature orders
    them, rows that `Rows.check` made one float matrix. Anything else returns None and goes
    through the column-by-column path, which names the offending column and row."""
    expected = model.input_names
    if not expected or any(c.type not in FLOAT_TYPES for c in model.inputs):
        return None
    if rows.columns is not None and rows.columns != expected:
        return None
    if rows.numbers is None or rows.numbers.shape[1] != len(expected):
        return None
    return pd.DataFrame(rows.numbers, columns=model.input_index, copy=False)


def _at(name: str, index: int, problem: str) -> SignatureError:
    return SignatureError(f"column '{name}' row {index}: {problem}", name, index)


_NOT_FINITE = "NaN, infinite or out-of-range numbers are not accepted"


# --- JSON values --------------------------------------------------------------------------
def _coerce(column: pd.Series, name: str, kind: str) -> pd.Series:
    if kind in NUMBER_TYPES:
        for index, value in enumerate(column):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise _at(name, index, "expects a number")
            _check_number(value, name, index, kind)
        return column.astype("float64" if kind in FLOAT_TYPES else "int64")
    if kind == "boolean":
        if not all(isinstance(v, bool) for v in column):
            raise SignatureError(f"column '{name}': expects true or false", name)
        return column.astype(bool)
    if not all(isinstance(v, str) for v in column):
        raise SignatureError(f"column '{name}': expects text", name)
    return column.astype(object)


def _check_number(value: float, name: str, index: int, kind: str) -> None:
    if abs(value) > _LARGEST or not math.isfinite(value):  # in this order: ints past 1e308
        raise _at(name, index, _NOT_FINITE)
    if kind in INTEGER_TYPES:
        if not float(value).is_integer():
            raise _at(name, index, "expects an integer")
        if abs(value) >= _INT64:
            raise _at(name, index, _NOT_FINITE)


# --- CSV cells ----------------------------------------------------------------------------
def _coerce_text(column: pd.Series, name: str, kind: str) -> pd.Series:
    cells: list[str] = column.tolist()
    if kind in FLOAT_TYPES:
        return pd.Series(_floats(cells, name), index=column.index, dtype="float64")
    if kind in INTEGER_TYPES:
        values = [_integer(cell, name, index) for index, cell in enumerate(cells)]
        return pd.Series(values, index=column.index, dtype="int64")
    if kind == "boolean":
        return pd.Series(
            [_boolean(cell, name, index) for index, cell in enumerate(cells)],
            index=column.index,
            dtype=bool,
        )
    return column.astype(object)  # string (and binary, datetime): the cell as written


def _floats(cells: list[str], name: str) -> np.ndarray:
    try:
        values = np.array(cells, dtype=np.float64)
        if np.all(np.abs(values) <= _LARGEST):  # NaN fails this too
            return values
    except ValueError:
        pass
    # Cell by cell: names the first bad cell's row.
    return np.array([_number(cell, name, i, float) for i, cell in enumerate(cells)])


def _integer(cell: str, name: str, index: int) -> int:
    value = _number(cell, name, index, int)
    _check_number(value, name, index, "long")
    return int(value)


def _number(cell: str, name: str, index: int, parse: Callable[[str], float]) -> float:
    text = cell.strip()
    if not text:
        raise _at(name, index, "expects a number, the cell is empty")
    try:
        value = parse(text)
    except ValueError:
        try:
            value = float(text)  # "3.0" in an integer column; checked to be whole later
        except ValueError:
            raise _at(name, index, "expects a number") from None
    if abs(value) > _LARGEST or not math.isfinite(value):
        raise _at(name, index, _NOT_FINITE)
    return value


def _boolean(cell: str, name: str, index: int) -> bool:
    text = cell.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise _at(name, index, "expects true, false, 1 or 0")


def _guess(cell: str) -> Any:
    """A cell of a model without a signature: a number if it reads as one, else the text."""
    text = cell.strip()
    if text == "":
        return None
    try:
        number = float(text)
    except ValueError:
        return text
    if number.is_integer() and "." not in text and "e" not in text.lower():
        return int(number)
    return number


# --- predicting ---------------------------------------------------------------------------
def run_model(model: LoadedModel, frame: pd.DataFrame, want_proba: bool) -> dict[str, Any]:
    """Predict (and predict_proba where asked and supported) for one frame. A classifier that
    predicts the most probable class by construction (`predicts_argmax`) runs once."""
    estimator = model.compiled or model.model
    proba = None
    if want_proba and hasattr(estimator, "predict_proba"):
        proba = estimator.predict_proba(frame)
    if proba is not None and model.argmax:
        predictions = estimator.classes_[proba.argmax(axis=1)]
    else:
        predictions = estimator.predict(frame)
    result: dict[str, Any] = {
        "model": model.name,
        "alias": model.ref,
        "version": model.version,
        "predictions": [plain(p) for p in predictions],
        "probabilities": None,
        "classes": model.classes,
    }
    if proba is not None:
        result["probabilities"] = proba.tolist()
    return result


def predict(model: LoadedModel, rows: Rows, want_proba: bool) -> dict[str, Any]:
    """`rows` checked against the model's signature, then predicted: `run_model`'s answer."""
    return run_model(model, to_frame(rows, model), want_proba)


def warm_up(model: LoadedModel) -> None:
    """Predict on the input example once (a model that cannot is not swapped in), then set
    the model's fast path where it gives scikit-learn's answers (`compiled_for`)."""
    if model.input_example is not None and not model.input_example.empty:
        run_model(model, model.input_example, want_proba=True)
    model.compiled = compiled_for(model.model, model.input_example)


def compiled_for(estimator: Any, example: pd.DataFrame | None) -> CompiledPipeline | None:
    """`compile_pipeline(estimator)` if it answers exactly as `estimator` does on probe rows:
    the input example, the imputer's values, a step of one scale either side, and a row of
    missing cells (which the imputer fills). Exactly: the same arithmetic in the same order."""
    compiled = compile_pipeline(estimator)
    if compiled is None:
        return None
    centre = compiled.fill
    spread = compiled.scale if compiled.scale is not None else np.ones_like(centre)
    probes = [centre, centre - spread, centre + spread, np.full_like(centre, np.nan)]
    frame = pd.DataFrame(np.vstack(probes), columns=compiled.columns)
    if example is not None and set(compiled.columns) <= set(example.columns):
        frame = pd.concat([example[compiled.columns].astype(np.float64), frame], ignore_index=True)
    methods = [m for m in ("predict", "predict_proba") if hasattr(estimator, m)]
    try:
        for method in methods:
            ours = getattr(compiled, method)(frame)
            theirs = getattr(estimator, method)(frame)
            if not np.array_equal(np.asarray(ours), np.asarray(theirs)):
                return None
    except (ValueError, TypeError, KeyError):
        return None
    return compiled


def stack_frames(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """One frame for a batch; all-float frames with the same columns stack as one array."""
    if len(frames) == 1:
        return frames[0]
    columns = frames[0].columns
    if all(f.columns.equals(columns) and all(t == np.float64 for t in f.dtypes) for f in frames):
        return pd.DataFrame(np.vstack([f.to_numpy() for f in frames]), columns=columns)
    return pd.concat(frames, ignore_index=True)


def example_record(model: LoadedModel) -> dict[str, Any] | None:
    """The first row of the model's input example as plain values (None without one)."""
    if model.input_example is None or model.input_example.empty:
        return None
    return {k: plain(v) for k, v in model.input_example.iloc[0].to_dict().items()}


def plain(value: Any) -> Any:
    """A numpy scalar as the Python value JSON can carry; anything else as it is."""
    if isinstance(value, np.generic):
        return value.item()
    return value
