"""Tiny ML helpers shared by the stages (standard library only).

Every stage reads and writes plain CSV and JSON through these functions, so the
number formatting lives in one place: fixed decimals keep each output byte-for-byte
identical for identical params, which is what lets a run-cache restore them and a
test compare them by hash.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path

FEATURES = ("x1", "x2")
DECIMALS = 6


def read_rows(path: str | Path) -> tuple[list[list[float]], list[int]]:
    """Read a ``x1,x2,label`` CSV into feature rows and 0/1 labels."""
    xs: list[list[float]] = []
    ys: list[int] = []
    with open(path, newline="") as f:
        for rec in csv.DictReader(f):
            xs.append([float(rec[name]) for name in FEATURES])
            ys.append(int(rec["label"]))
    return xs, ys


def write_rows(path: str | Path, xs: Sequence[Sequence[float]], ys: Sequence[int]) -> None:
    """Write feature rows and labels as ``x1,x2,label`` with fixed decimals."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow([*FEATURES, "label"])
        for x, y in zip(xs, ys, strict=True):
            out.writerow([*(f"{v:.{DECIMALS}f}" for v in x), y])


def write_json(path: str | Path, data: object) -> None:
    """Write JSON with sorted keys and a final newline (stable bytes, readable diffs)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def expand(x: Sequence[float], kind: str) -> list[float]:
    """Map raw features to the model's feature set: ``linear`` or ``quadratic``.

    Quadratic adds every pairwise product (x1², x1·x2, x2²), which lets a linear
    model draw the curved boundary the data needs.
    """
    if kind == "linear":
        return list(x)
    if kind == "quadratic":
        pairs = [x[i] * x[j] for i in range(len(x)) for j in range(i, len(x))]
        return [*x, *pairs]
    raise ValueError(f"unknown feature set {kind!r}: use 'linear' or 'quadratic'")


def sigmoid(z: float) -> float:
    """Numerically safe logistic function."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def margin(weights: Sequence[float], bias: float, x: Sequence[float]) -> float:
    """The linear score ``w·x + b``."""
    return sum(w * v for w, v in zip(weights, x, strict=True)) + bias
