"""The checkpoint signal-file protocol of DVC 2, and the thread that answers it.

Provides:
    SIGNAL_NAME, signal_path(root), error_path(root): where the signal lives.
    checkpoint_env(root, resume=): the variables a checkpoint command runs with.
    send_signal(root): the command's side: create the file, wait until it is gone.
    SignalMonitor: the runner's side: a thread that notices the file, calls
        back, then deletes it (which unblocks the command).

The protocol is DVC 2's unchanged (``formats.md`` section 6), so code that
calls ``dvc.api.make_checkpoint()``, DVCLive 1.x with checkpoints, or a shell
loop with ``touch`` works as is. Two things are better than DVC 2: the
monitor polls every 10 ms instead of every second, and when recording fails
it leaves the reason in ``DVC_CHECKPOINT.error`` before releasing the
command, so our ``make_checkpoint()`` raises instead of carrying on blindly
(DVC 2 killed the process; we cannot reach it from here, and the stage still
fails with the recorded error once the command ends).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from prefect_dvc.errors import CheckpointError

logger = logging.getLogger(__name__)

FollowUp = Callable[[], None]
SignalCallback = Callable[[], FollowUp | None]

SIGNAL_NAME = "DVC_CHECKPOINT"
# NOTE: ours, set for every stage a monitor watches, so make_checkpoint() in a
# stage without a checkpoint out gets an error instead of silently doing nothing.
MONITOR_ENV = "PREFECT_DVC_MONITOR"
MONITOR_POLL_SECONDS = 0.01
CLIENT_POLL_SECONDS = 0.01


def signal_path(root: Path) -> Path:
    """``$DVC_ROOT/.dvc/tmp/DVC_CHECKPOINT``: the file whose existence is the signal."""
    return Path(root) / ".dvc" / "tmp" / SIGNAL_NAME


def error_path(root: Path) -> Path:
    """Where the monitor explains a signal it could not record (our addition)."""
    return signal_path(root).with_name(SIGNAL_NAME + ".error")


def checkpoint_env(root: Path, *, resume: bool) -> dict[str, str]:
    """``DVC_CHECKPOINT=1`` and ``DVC_ROOT`` (plus ``DVCLIVE_RESUME=1`` when resuming)."""
    env = {"DVC_CHECKPOINT": "1", "DVC_ROOT": str(root), MONITOR_ENV: "1"}
    if resume:
        env["DVCLIVE_RESUME"] = "1"
    return env


def send_signal(root: Path, *, timeout: float | None = None) -> None:
    """Create the signal file and block until the runner removes it.

    Raises:
        CheckpointError: the runner could not record the checkpoint (its reason),
            or ``timeout`` seconds passed without an answer.
    """
    path = signal_path(root)
    error = error_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        error.unlink()
    with open(path, "w") as handle:
        handle.flush()
        os.fsync(handle.fileno())
    deadline = None if timeout is None else time.monotonic() + timeout
    while path.exists():
        if deadline is not None and time.monotonic() > deadline:
            raise CheckpointError(
                f"no answer to the checkpoint signal {path} after {timeout} s",
                hint="Run the stage with 'prefect-dvc exp run'",
            )
        time.sleep(CLIENT_POLL_SECONDS)
    if error.exists():
        reason = error.read_text().strip()
        with contextlib.suppress(FileNotFoundError):
            error.unlink()
        raise CheckpointError(reason or "the checkpoint could not be recorded")


class SignalMonitor:
    """Watches for the signal file while a command runs; use as a context manager.

    ``on_signal`` runs in the monitor thread, inside a copy of the context of
    the thread that started the monitor (so a Prefect task's run context, and
    with it artifacts and loggers, stays available). Its exceptions are kept
    in :attr:`errors`, written to :func:`error_path` for the command, and never
    stop the monitor: a later signal is answered again. It may return a
    follow-up, run after the file is deleted, i.e. once the command is
    released (slow, non-essential work such as publishing artifacts).
    """

    def __init__(
        self, root: Path, on_signal: SignalCallback, *, poll: float = MONITOR_POLL_SECONDS
    ) -> None:
        self.path = signal_path(root)
        self.error_file = error_path(root)
        self.on_signal = on_signal
        self.poll = poll
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> SignalMonitor:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # NOTE: a file left by a killed run would otherwise count as a signal.
        self._clear()
        context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=context.run, args=(self._loop,), name="checkpoint-monitor", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        # NOTE: a signal the command sent just before it exited is not recorded:
        # nobody is waiting for it any more, and the final commit covers the state.
        self._clear()

    def _clear(self) -> None:
        for path in (self.path, self.error_file):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def _loop(self) -> None:
        while not self._stop.wait(self.poll):
            if self.path.exists():
                self._answer()

    def _answer(self) -> None:
        follow_up = None
        try:
            follow_up = self.on_signal()
        except BaseException as exc:  # reported to the command and to the stage
            logger.error("checkpoint failed: %s", exc)
            self.errors.append(exc)
            self.error_file.write_text(f"{exc}\n")
        finally:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        if follow_up is not None:
            follow_up()
