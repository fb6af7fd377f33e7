"""``make_checkpoint()``: ask the runner to record a checkpoint, from Python stage code.

Provides:
    make_checkpoint(): blocks until the checkpoint is recorded, then returns;
        a no-op outside a checkpoint stage of ``prefect-dvc exp run``.

Kept free of Prefect and of the rest of the package so that importing it in
a training script costs nothing. It speaks DVC 2's signal-file protocol, so
the same script also works under DVC 2 (and is a no-op under DVC 3).
"""

from __future__ import annotations

import os
from pathlib import Path

from prefect_dvc.checkpoints.signal import MONITOR_ENV, send_signal

_TRUE = ("1", "true", "yes", "y", "on")


def make_checkpoint() -> None:
    """Record a checkpoint of the running stage's outs and metrics, then return.

    Write the checkpoint outs (the model) and metrics first: the runner
    hashes them while this call blocks, commits them as a checkpoint of the
    experiment, and then lets the program continue.

    Raises:
        CheckpointError: the runner could not record it, e.g. the stage has no
            out marked ``checkpoint: true`` (the message says what to do).
    """
    asked = os.environ.get("DVC_CHECKPOINT", "").lower() in _TRUE
    if not asked and os.environ.get(MONITOR_ENV) != "1":
        return
    root = os.environ.get("DVC_ROOT")
    if not root:
        return
    send_signal(Path(root))
