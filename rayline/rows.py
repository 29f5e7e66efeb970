"""`Rows`: the tabular input every prediction protocol is parsed into before it meets a model.

A protocol (Rayline JSON, MLflow scoring, Open Inference V2, CSV, a batch of a file) builds
`Rows` from its own shape: records keyed by column, columns of values, or plain lists in the
signature's column order. `rayline.inference` then checks them against the model's signature.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass
from typing import Any

import numpy as np

from rayline.errors import InvalidRows

_PLAIN_NUMBERS = frozenset({int, float})
_EXACT_INT = 2**53
"""Larger integers are not exact as float64; such rows keep their Python values."""


def numeric_matrix(data: list[list[Any]]) -> np.ndarray | None:
    """`data` as one float64 matrix when every row is a list of the same length and every value
    a finite int or float (ints within +-2**53, exact as floats); None otherwise."""
    try:
        kinds = {type(value) for row in data for value in row}
    except TypeError:  # a row that is not a list
        return None
    if not kinds <= _PLAIN_NUMBERS:  # bool is its own type: True/False never pass as numbers
        return None
    if int in kinds and any(
        type(value) is int and abs(value) > _EXACT_INT for row in data for value in row
    ):
        return None
    try:
        values = np.array(data, dtype=np.float64)
    except ValueError:  # ragged or nested rows
        return None
    if values.ndim != 2 or not np.all(np.abs(values) <= 1e300):  # NaN fails this too
        return None
    return values


@dataclass
class Rows:
    """Tabular input: optional column names and row-major values."""

    columns: list[str] | None
    """Column names; None: each row lists a value per signature column, in its order."""
    data: list[list[Any]]
    _: KW_ONLY
    numbers: np.ndarray | None = None
    """The rows as one float64 matrix when all values are plain finite numbers; `check` sets
    it and drops `data`, so the predictor receives one buffer instead of a list per row."""
    text: bool = False
    """The values are text cells (CSV): each column is read by its signature type, so "007"
    stays a string where the model expects one and becomes 7 only where it expects a number."""

    def __len__(self) -> int:
        return len(self.data) if self.numbers is None else len(self.numbers)

    def lists(self) -> list[list[Any]]:
        """The rows as lists of values, whichever form they are held in."""
        return self.data if self.numbers is None else self.numbers.tolist()

    def check(self, max_rows: int) -> Rows:
        """Validate the shape; returns the rows to send on (as a matrix when all numeric)."""
        if len(self) == 0:
            raise InvalidRows("no rows to predict")
        if len(self) > max_rows:
            raise InvalidRows(f"too many rows: {len(self)} > {max_rows} per request")
        if self.numbers is not None:
            return self
        width = len(self.columns) if self.columns is not None else len(self.data[0])
        numbers = None if self.text else numeric_matrix(self.data)
        if numbers is not None and numbers.shape[1] == width:
            return Rows(self.columns, [], numbers=numbers)
        for index, row in enumerate(self.data):
            if not isinstance(row, list) or len(row) != width:
                raise InvalidRows(f"row {index}: expected a list of {width} values")
            for value in row:
                if isinstance(value, (list, dict)):
                    raise InvalidRows(f"row {index}: values must be scalars, not nested")
        return self

    # --- the shapes protocols send -----------------------------------------------------------
    @classmethod
    def from_records(cls, records: list[dict[str, Any]]) -> Rows:
        """Objects keyed by column; a key missing from a record is a missing value (None)."""
        columns: list[str] = []
        for record in records:
            if not isinstance(record, dict):
                raise InvalidRows("records must all be objects keyed by column")
            for key in record:
                if key not in columns:
                    columns.append(key)
        return cls(columns, [[record.get(c) for c in columns] for record in records])

    @classmethod
    def from_columns(cls, inputs: dict[str, list[Any]]) -> Rows:
        """Column name → that column's values, every column as long as the others."""
        columns = list(inputs)
        lengths = {len(v) if isinstance(v, list) else -1 for v in inputs.values()}
        if len(lengths) != 1 or -1 in lengths:
            raise InvalidRows("inputs: every column needs a list of the same length")
        return cls(columns, [list(row) for row in zip(*inputs.values(), strict=True)])

    @classmethod
    def from_instances(cls, instances: list[Any]) -> Rows:
        """All records (objects keyed by column) or all lists in the signature's column order."""
        if all(isinstance(row, dict) for row in instances):
            return cls.from_records(instances)
        if all(isinstance(row, list) for row in instances):
            return cls(None, instances)
        raise InvalidRows("instances: use a list of objects or a list of lists")
