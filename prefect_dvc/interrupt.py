"""SIGINT/SIGTERM during a run: stop the stages, end the run ``Cancelled``.

Provides:
    catch_stop_signals(): a context manager (main thread only, a no-op
        elsewhere) during which the first SIGINT or SIGTERM kills the
        process group of every running stage command and records the
        request instead of unwinding the stack; a second one interrupts at
        once (``KeyboardInterrupt``).
    stop_requested(): the signal number asked for, or ``None`` (read it inside
        the ``with``: it is cleared on the way out).
    signal_name(signum): ``SIGTERM``...

Why not let ``KeyboardInterrupt`` unwind: Prefect turns a ``BaseException``
inside a flow into a ``Crashed`` run without saying which stage ran, and the
stage commands (each in its own process group, see ``shell.py``) would keep
running as orphans. Killing their groups makes each running stage fail with
the signal; the scheduler then starts nothing new and the flow ends
``Cancelled`` naming them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType

import psutil

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_requested: list[int] = []


def stop_requested() -> int | None:
    """The first stop signal received inside :func:`catch_stop_signals`, if any."""
    return _requested[0] if _requested else None


def signal_name(signum: int) -> str:
    """``SIGTERM`` for 15."""
    return signal.Signals(signum).name


def kill_stage_groups(sig: int = signal.SIGTERM) -> list[int]:
    """Send ``sig`` to every child process group of this process; returns the group ids.

    Stage commands run as session leaders (their group id is their pid);
    children sharing our own group (such as Prefect's temporary server) are
    left alone.
    """
    own = os.getpgid(0)
    killed = []
    for child in psutil.Process().children(recursive=True):
        try:
            group = os.getpgid(child.pid)
        except ProcessLookupError:
            continue
        if group == child.pid and group != own:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, sig)
            killed.append(group)
    return killed


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    if _requested:
        raise KeyboardInterrupt  # a second signal: the user insists
    _requested.append(signum)
    # NOTE: Ctrl-C reaches the whole foreground group, Prefect's temporary
    # server included; its log shipper then prints "--- Error logging to API
    # ---" for every batch it can no longer send. Prefect prints that only
    # while logging.raiseExceptions is set: on the way out it only alarms.
    logging.raiseExceptions = False
    kill_stage_groups()


@contextlib.contextmanager
def catch_stop_signals() -> Iterator[None]:
    """Handle SIGINT/SIGTERM as a stop request while the body runs.

    Outside the main thread (where Python cannot set handlers) this does
    nothing and the signals keep their usual effect.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in _STOP_SIGNALS}
    _requested.clear()
    for sig in _STOP_SIGNALS:
        signal.signal(sig, _on_signal)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        # NOTE: read inside the body only; a later run must not inherit it.
        _requested.clear()
