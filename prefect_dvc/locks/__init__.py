"""Which locks each command and stage takes: DVC's discipline on DVC's own files.

Provides:
    locked(command): decorator for CLI commands that write repository state
        (DVC's ``@locked``: fetch, push, exp branch/remove/push/pull): the
        repository lock for the whole command. Read-only commands (status,
        exp show, dag, params diff, metrics show) take none, so they never
        wait; DVC's ``status`` takes it briefly, which only makes it fail
        while another command holds it.
    locked_workspace(command): the same for commands that change workspace
        files (repro, checkout, pull, exp apply), refused while an
        experiment runs in the workspace.
    stage_guard(root, stage): a stage's repository-lock section plus read
        locks on its deps and outs and write locks on its outs (DVC's
        ``@rwlocked(read=["deps", "outs"], write=["outs"])``), held from
        before its status check until its lock and run-cache entries are written.
    command_running(root): inside ``stage_guard``, the repository lock is let
        go while the stage's command runs (DVC's ``unlocked_repo``).
    workspace_experiment(root): an experiment runs in the workspace: DVC's
        experiment rwlock (``.dvc/tmp/exps/rwlock``, token ``workspace``) for
        the whole run, so a second one is refused before it changes anything.
    cache_reader(root) / cache_collector(root): a run (read) and ``gc``
        (write) on the cache directory in ``.dvc/tmp/rwlock``; ``gc`` also
        write-locks the repository root, so any running stage keeps it out.

Lock files: ``.dvc/tmp/lock`` (``repo_lock.py``) and ``.dvc/tmp/rwlock``
(``rwlock.py``), in DVC's formats, so ``dvc`` and prefect-dvc respect each other.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import Any, TypeVar

from prefect_dvc.config import load_config
from prefect_dvc.errors import PrefectDvcError
from prefect_dvc.locks.repo_lock import RepoLock, repo_lock, set_wait_for_lock
from prefect_dvc.locks.rwlock import rwlock
from prefect_dvc.repo import find_root

__all__ = [
    "RepoLock",
    "cache_collector",
    "cache_reader",
    "command_running",
    "locked",
    "locked_workspace",
    "repo_lock",
    "rwlock",
    "set_wait_for_lock",
    "stage_guard",
    "workspace_experiment",
]

F = TypeVar("F", bound=Callable[..., Any])


def locked(command: F) -> F:
    """Run ``command`` holding the repository lock of the project around the cwd.

    Outside a project the command runs unlocked and reports that itself.
    """
    return _held_in_project(command, lambda root: repo_lock(root).hold())


def locked_workspace(command: F) -> F:
    """:func:`locked`, for a command that changes workspace files (repro, checkout, exp apply).

    It also reads DVC's experiment token ``workspace``, so it is refused
    while an experiment runs here (that run holds the token's write side).
    """
    return _held_in_project(command, _workspace_hold)


@contextmanager
def _workspace_hold(root: Path) -> Iterator[None]:
    with repo_lock(root).hold(), _exps_lock(root, read=["workspace"]):
        yield


def _held_in_project(command: F, hold: Callable[[Path], AbstractContextManager[Any]]) -> F:
    """``command`` run inside ``hold(root)`` of the project around the cwd (none: unlocked)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            root = find_root()
        except PrefectDvcError:
            return command(*args, **kwargs)
        with hold(root):
            return command(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _exps_lock(root: Path, **paths: Sequence[str]) -> AbstractContextManager[None]:
    exps = _tmp(root) / "exps"
    exps.mkdir(parents=True, exist_ok=True)
    return rwlock(
        exps,
        root,
        **paths,
        what="an experiment is already running in this workspace",
        hint="Wait for it to finish, or queue experiments with 'prefect-dvc exp run --queue'",
    )


def _tmp(root: Path) -> Path:
    return root / ".dvc" / "tmp"


@contextmanager
def stage_guard(
    root: Path, name: str, reads: Sequence[Path], writes: Sequence[Path]
) -> Iterator[None]:
    """The locks one stage holds while it is checked, run and recorded.

    Raises:
        LockError: the repository lock stays busy, or another process reads
            or writes one of these paths.
    """
    with (
        repo_lock(root).section(),
        rwlock(
            _tmp(root),
            root,
            read=[p.as_posix() for p in [*reads, *writes]],
            write=[p.as_posix() for p in writes],
            what="cannot run",
            stage=name,
        ),
    ):
        yield


@contextmanager
def command_running(root: Path) -> Iterator[None]:
    """Let the repository lock go while a stage's command runs (DVC's ``unlocked_repo``)."""
    with repo_lock(root).released():
        yield


@contextmanager
def workspace_experiment(root: Path) -> Iterator[None]:
    """Claim the workspace for one experiment run (DVC's exp rwlock token ``workspace``).

    Raises:
        LockError: another experiment runs in this workspace; names it.
    """
    with _exps_lock(root, write=["workspace"]):
        yield


def _cache_dir(root: Path) -> str:
    return load_config(root).cache_dir.resolve().as_posix()  # type: ignore[union-attr]


@contextmanager
def cache_reader(root: Path) -> Iterator[None]:
    """A run that may add objects to the cache: keeps ``gc`` out until it ends."""
    with rwlock(_tmp(root), root, read=[_cache_dir(root)], what="gc is collecting the cache"):
        yield


@contextmanager
def cache_collector(root: Path) -> Iterator[None]:
    """``gc``: the repository lock plus the write side of the root and the cache.

    Raises:
        LockError: a stage, a run or a queue of this repository is running.
    """
    with ExitStack() as stack:
        stack.enter_context(repo_lock(root).hold())
        stack.enter_context(
            rwlock(
                _tmp(root),
                root,
                write=[root.resolve().as_posix(), _cache_dir(root)],
                what="gc cannot collect while the repository is in use",
                hint="Wait for the run (and the queue) to finish, then run gc again",
            )
        )
        yield
