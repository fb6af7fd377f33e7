"""Stage ``evaluate``: score every trained model on the test split and pick the best.

Runs with ``wdir: eval``, so its outputs land in ``eval/``: ``metrics.json`` (accuracy,
AUC and log loss per model, plus the best model) and ``plots/roc.csv`` (the best
model's ROC curve). ``--threshold`` turns a probability into a class; it comes from
``config/evaluate.yaml`` so that tuning it re-runs this stage only.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

from ml import expand, margin, read_rows, sigmoid, write_json

ROC_STEPS = 100


def auc(probs: list[float], ys: list[int]) -> float:
    """Area under the ROC curve: the chance a positive outranks a negative (ties count half)."""
    ranked = sorted(range(len(probs)), key=lambda i: probs[i])
    rank_sum, i = 0.0, 0
    while i < len(ranked):
        j = i
        while j + 1 < len(ranked) and probs[ranked[j + 1]] == probs[ranked[i]]:
            j += 1
        mean_rank = (i + j) / 2 + 1
        rank_sum += mean_rank * sum(ys[k] for k in ranked[i : j + 1])
        i = j + 1
    pos = sum(ys)
    neg = len(ys) - pos
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg)


def predict_proba(model: dict, x: list[float]) -> float:
    """P(class 1) for raw features ``x``, using the model's own feature set."""
    return sigmoid(margin(model["weights"], model["bias"], expand(x, model["features"])))


def score(model: dict, xs: list[list[float]], ys: list[int], threshold: float) -> dict:
    """Accuracy at ``threshold``, AUC and log loss of one model, rounded for stable output."""
    probs = [predict_proba(model, x) for x in xs]
    pairs = list(zip(probs, ys, strict=True))
    hits = sum((p >= threshold) == bool(y) for p, y in pairs)
    loss = -sum(math.log(max(p if y else 1 - p, 1e-12)) for p, y in pairs)
    return {
        "accuracy": round(hits / len(ys), 4),
        "auc": round(auc(probs, ys), 4),
        "loss": round(loss / len(ys), 4),
        "probs": probs,
    }


def roc_points(probs: list[float], ys: list[int]) -> list[tuple[float, float, float]]:
    """(threshold, fpr, tpr) on a fixed grid of thresholds from 1 down to 0."""
    pos = sum(ys)
    neg = len(ys) - pos
    pairs = list(zip(probs, ys, strict=True))
    points = []
    for step in range(ROC_STEPS + 1):
        t = 1 - step / ROC_STEPS
        tp = sum(1 for p, y in pairs if p >= t and y)
        fp = sum(1 for p, y in pairs if p >= t and not y)
        points.append((t, fp / neg, tp / pos))
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models-dir", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True)
    parser.add_argument("--threshold", type=float, required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--roc", type=Path, required=True)
    args = parser.parse_args()

    xs, ys = read_rows(args.test)
    results = {}
    for path in sorted(args.models_dir.glob("*.json")):
        results[path.stem] = score(json.loads(path.read_text()), xs, ys, args.threshold)
    if not results:
        raise SystemExit(f"evaluate: no models in {args.models_dir}: run the train stages first")

    best = max(results, key=lambda name: (results[name]["accuracy"], results[name]["auc"]))
    metrics = {name: {k: v for k, v in r.items() if k != "probs"} for name, r in results.items()}
    write_json(args.metrics, {"best": {"model": best, **metrics[best]}, "models": metrics})

    args.roc.parent.mkdir(parents=True, exist_ok=True)
    with open(args.roc, "w", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(["threshold", "fpr", "tpr"])
        for t, fpr, tpr in roc_points(results[best]["probs"], ys):
            out.writerow([f"{t:.2f}", f"{fpr:.4f}", f"{tpr:.4f}"])
    for name, m in metrics.items():
        print(f"evaluate: {name:<18} accuracy={m['accuracy']:.4f} auc={m['auc']:.4f}")
    print(f"evaluate: best model: {best}")


if __name__ == "__main__":
    main()
