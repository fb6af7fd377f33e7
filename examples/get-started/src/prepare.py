"""Stage ``prepare``: generate a seeded two-class dataset and split it.

Class 0 is a tight blob at the origin, class 1 a wide blob off-centre, so the best
boundary is curved: a linear model does well, a quadratic one does better. The
same seed always gives the same rows, so this stage's output is reproducible.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from ml import write_rows

CLASSES = {0: ((0.0, 0.0), 0.8), 1: ((1.0, 0.8), 1.8)}  # label: (centre, spread)


def generate(n_samples: int, seed: int) -> tuple[list[list[float]], list[int]]:
    """Draw ``n_samples`` points, classes alternating so both are equally common."""
    rng = random.Random(seed)
    xs: list[list[float]] = []
    ys: list[int] = []
    for i in range(n_samples):
        label = i % 2
        (cx, cy), spread = CLASSES[label]
        xs.append([rng.gauss(cx, spread), rng.gauss(cy, spread)])
        ys.append(label)
    return xs, ys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n-samples", type=int, required=True)
    parser.add_argument("--test-ratio", type=float, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out-dir", type=Path, required=True)
    args = parser.parse_args()

    xs, ys = generate(args.n_samples, args.seed)
    order = list(range(len(xs)))
    random.Random(args.seed + 1).shuffle(order)
    n_test = round(len(order) * args.test_ratio)
    splits = {"test": order[:n_test], "train": order[n_test:]}
    for name, idx in splits.items():
        write_rows(args.out_dir / f"{name}.csv", [xs[i] for i in idx], [ys[i] for i in idx])
        print(f"prepare: {name}: {len(idx)} rows")


if __name__ == "__main__":
    main()
