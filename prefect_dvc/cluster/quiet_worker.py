"""Dask worker preload for a new LocalCluster's workers: quiet on Ctrl-C.

Provides:
    dask_setup(worker): ignore SIGINT in the worker process (distributed's preload hook).

Why: the workers of ``--cluster dask:N`` share the terminal's foreground
process group, so Ctrl-C reached them and each printed a
``KeyboardInterrupt`` traceback while dying. The driver alone decides what a
stop means: it sets the run's stop Event, the worker kills its command
(``cluster/stopwatch.py``) and reports the stage stopped, and the driver
closes the cluster.
"""

from __future__ import annotations

import contextlib
import signal
from typing import Any


def dask_setup(worker: Any) -> None:
    """Ignore SIGINT here; SIGTERM (the nanny's and the driver's close) still ends the worker."""
    with contextlib.suppress(ValueError):  # NOTE: only the main thread may set handlers
        signal.signal(signal.SIGINT, signal.SIG_IGN)
