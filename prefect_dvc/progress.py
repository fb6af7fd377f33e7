"""Stage progress events, for displays that follow a run as it happens.

Provides:
    StageEvent: a stage changed state (queued, running, a final outcome) or
        printed a line.
    listening(listener): a context manager that registers ``listener`` for
        the events of runs started in this process while it is active.
    emit(event): what the scheduler and the stage tasks call.

Why a registry instead of a callback argument: the events come from inside
a Prefect flow, whose parameters must be serializable; the CLI's live table
and a test can both subscribe without the flow knowing they exist. With no
listener, ``emit`` costs one list check.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StageEvent:
    """``state`` is queued, running, a final outcome, failed or not run."""

    stage: str
    state: str
    line: str | None = None
    seconds: float | None = None


Listener = Callable[[StageEvent], None]

_listeners: list[Listener] = []
_lock = threading.Lock()


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    with _lock:
        _listeners.append(listener)
    try:
        yield
    finally:
        with _lock:
            _listeners.remove(listener)


def emit(event: StageEvent) -> None:
    """Tell every listener; a failing listener is logged and never breaks the run."""
    if not _listeners:
        return
    with _lock:
        current = list(_listeners)
    for listener in current:
        try:
            listener(event)
        except Exception:  # a display must never fail a pipeline
            logger.debug("progress listener failed", exc_info=True)
