"""A tiny training loop with checkpoints (standard library only).

Fits y = 3x + 1 by stochastic gradient descent. It resumes from model.json
when the file exists (prefect-dvc restores it on resume), trains
params.train.epochs more epochs, and after each epoch writes the model and
metrics.json, then records a checkpoint.
"""

import json
import random
from pathlib import Path

try:
    from prefect_dvc import make_checkpoint
except ImportError:  # plain Python, DVC 3: run without checkpoints

    def make_checkpoint() -> None:
        return None


def load_params() -> dict:
    text = Path("params.yaml").read_text()
    params: dict = {}
    for line in text.splitlines():  # the three flat keys under "train:"
        if line.startswith("  ") and ":" in line:
            key, value = (part.strip() for part in line.split(":", 1))
            params[key] = float(value) if "." in value else int(value)
    return params


def main() -> None:
    params = load_params()
    model_path = Path("model.json")
    model = {"epoch": 0, "w": 0.0, "b": 0.0}
    if model_path.exists():
        model = json.loads(model_path.read_text())
        print(f"resuming from epoch {model['epoch']}")
    rng = random.Random(params["seed"] + model["epoch"])
    data = [(x / 10, 3 * x / 10 + 1 + rng.gauss(0, 0.1)) for x in range(-20, 21)]
    for _ in range(params["epochs"]):
        rng.shuffle(data)
        for x, y in data:
            err = model["w"] * x + model["b"] - y
            model["w"] -= params["lr"] * err * x
            model["b"] -= params["lr"] * err
        model["epoch"] += 1
        loss = sum((model["w"] * x + model["b"] - y) ** 2 for x, y in data) / len(data)
        model_path.write_text(json.dumps(model, indent=2) + "\n")
        metrics = {"epoch": model["epoch"], "loss": round(loss, 6)}
        Path("metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        print(f"epoch {model['epoch']}: loss {loss:.6f}", flush=True)
        make_checkpoint()


if __name__ == "__main__":
    main()
