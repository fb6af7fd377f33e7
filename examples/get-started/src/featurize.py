"""Stage ``featurize@<split>``: standardize one split with the train split's statistics.

Both splits are scaled with the mean and standard deviation of *train*, never
their own, so no information leaks from the test set into training. Values beyond
``--clip`` standard deviations are clipped to tame outliers.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from ml import read_rows, write_rows


def column_stats(xs: list[list[float]]) -> list[tuple[float, float]]:
    """Mean and (population) standard deviation of each column."""
    stats = []
    for col in zip(*xs, strict=True):
        mean = sum(col) / len(col)
        std = math.sqrt(sum((v - mean) ** 2 for v in col) / len(col)) or 1.0
        stats.append((mean, std))
    return stats


def scale(x: list[float], stats: list[tuple[float, float]], clip: float) -> list[float]:
    """Standardize one row, clipping each value to ``[-clip, clip]``."""
    return [
        max(-clip, min(clip, (v - mean) / std)) for v, (mean, std) in zip(x, stats, strict=True)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--split", required=True)
    parser.add_argument("--in-dir", type=Path, required=True)
    parser.add_argument("--clip", type=float, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    stats = column_stats(read_rows(args.in_dir / "train.csv")[0])
    xs, ys = read_rows(args.in_dir / f"{args.split}.csv")
    write_rows(args.out, [scale(x, stats, args.clip) for x in xs], ys)
    print(f"featurize: {args.split}: {len(xs)} rows -> {args.out}")


if __name__ == "__main__":
    main()
