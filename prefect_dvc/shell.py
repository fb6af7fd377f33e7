"""Run a stage's commands through the user's shell, streaming their output.

Provides:
    CommandRunner: the protocol the stage executor calls (a seam for tests).
    ShellRunner: the real one: ``$SHELL -c`` per command, as DVC runs them.
    CommandResult: exit status plus the last lines printed, for error messages.

Each command runs in the stage's ``wdir`` with DVC's environment variables
(``DVC_ROOT``, ``DVC_STAGE``...) so scripts written for ``dvc repro`` work
unchanged. Output lines go to a callback as they arrive (the Prefect logger
and the terminal), never buffered until the end.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

TAIL_LINES = 20


@dataclass(frozen=True)
class CommandResult:
    """How a stage's commands ended: ``returncode`` of the first failure (or 0)."""

    returncode: int
    tail: tuple[str, ...]
    command: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class CommandRunner(Protocol):
    def run(
        self,
        commands: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        on_line: Callable[[str], None],
    ) -> CommandResult: ...


def shell_argv(command: str) -> list[str]:
    """The argv DVC would use: ``$SHELL -c``, without rc files; ``/bin/sh`` otherwise."""
    shell = os.environ.get("SHELL") or "/bin/sh"
    name = Path(shell).name
    if not Path(shell).exists():
        shell, name = "/bin/sh", "sh"
    if name == "bash":
        return [shell, "--noprofile", "--norc", "-c", command]
    if name == "zsh":
        return [shell, "--no-rcs", "-c", command]
    return [shell, "-c", command]


class ShellRunner:
    """Runs commands one after another and stops at the first non-zero exit."""

    def run(
        self,
        commands: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        on_line: Callable[[str], None],
    ) -> CommandResult:
        tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        for command in commands:
            returncode = self._run_one(command, cwd, env, on_line, tail)
            if returncode != 0:
                return CommandResult(returncode, tuple(tail), command)
        return CommandResult(0, tuple(tail), commands[-1] if commands else "")

    def _run_one(
        self,
        command: str,
        cwd: Path,
        env: Mapping[str, str],
        on_line: Callable[[str], None],
        tail: collections.deque[str],
    ) -> int:
        proc = subprocess.Popen(
            shell_argv(command),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # NOTE: its own process group, so an interrupted run can stop the
            # whole command tree, not only the shell.
            start_new_session=True,
        )
        assert proc.stdout is not None
        try:
            for raw in proc.stdout:
                line = raw.decode("utf-8", errors="replace").rstrip("\n")
                tail.append(line)
                on_line(line)
            return proc.wait()
        except BaseException:
            _kill_group(proc)
            raise
        finally:
            proc.stdout.close()


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=5)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
