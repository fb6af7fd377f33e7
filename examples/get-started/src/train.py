"""Stage ``train@<model>-<features>``: fit a linear classifier by stochastic gradient descent.

``logreg`` minimises the logistic loss, ``svm`` the hinge loss (a linear SVM);
both add an L2 penalty. The sample order comes from a seeded RNG, so the same
params always give the same weights.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from ml import expand, margin, read_rows, sigmoid, write_json


def gradient(model: str, z: float, y: int) -> float:
    """d(loss)/d(margin) for one sample with label ``y`` in {0, 1}."""
    if model == "logreg":
        return sigmoid(z) - y
    if model == "svm":
        sign = 2 * y - 1
        return -sign if sign * z < 1 else 0.0
    raise ValueError(f"unknown model {model!r}: use 'logreg' or 'svm'")


def fit(
    model: str, xs: list[list[float]], ys: list[int], lr: float, epochs: int, l2: float, seed: int
) -> tuple[list[float], float]:
    """Plain SGD over ``epochs`` shuffled passes; returns (weights, bias)."""
    weights = [0.0] * len(xs[0])
    bias = 0.0
    order = list(range(len(xs)))
    rng = random.Random(seed)
    for _ in range(epochs):
        rng.shuffle(order)
        for i in order:
            g = gradient(model, margin(weights, bias, xs[i]), ys[i])
            weights = [w - lr * (g * v + l2 * w) for w, v in zip(weights, xs[i], strict=True)]
            bias -= lr * g
    return weights, bias


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--features", required=True)
    parser.add_argument("--lr", type=float, required=True)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--l2", type=float, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    raw, ys = read_rows(args.train)
    xs = [expand(x, args.features) for x in raw]
    weights, bias = fit(args.model, xs, ys, args.lr, args.epochs, args.l2, args.seed)
    write_json(
        args.out,
        {
            "model": args.model,
            "features": args.features,
            "weights": [round(w, 8) for w in weights],
            "bias": round(bias, 8),
        },
    )
    print(f"train: {args.model}/{args.features} -> {args.out}")


if __name__ == "__main__":
    main()
