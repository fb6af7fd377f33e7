"""What a checkpoint signal does: snapshot the stage's outs as a commit on the chain.

Provides:
    Checkpoint: one recorded checkpoint (step, commit, time, metrics, pause).
    CheckpointRecorder: the per-experiment hook that ``StageExecutor`` calls
        around a stage's command (``RunOptions.checkpoints``). For the
        checkpoint stage it runs a :class:`SignalMonitor` whose callback
        hashes and caches the outs, writes the stage's ``dvc.lock`` entry and
        commits it on top of the previous checkpoint; for other stages of a
        pipeline without a checkpoint stage it answers a signal with a clear
        error instead of leaving the command blocked.
    read_metrics(root, stage): the stage's metrics files, flattened.

The command is paused only for the hashing, the cache copy and two ``git``
plumbing calls; listeners (the Prefect artifacts) run after the command has
been released. The chain is DVC 2's shape: each checkpoint commit's single
parent is the previous checkpoint (the baseline for the first), and the
experiment ref and ``refs/exps/exec/EXEC_CHECKPOINT`` move to it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect_dvc.checkpoints.signal import (
    MONITOR_ENV,
    FollowUp,
    SignalCallback,
    SignalMonitor,
    checkpoint_env,
)
from prefect_dvc.checkpoints.snapshot import snapshot_file
from prefect_dvc.errors import CheckpointError
from prefect_dvc.experiments.collect import parse_file
from prefect_dvc.experiments.commit import commit_experiment
from prefect_dvc.experiments.contents import experiment_paths
from prefect_dvc.experiments.git import Git
from prefect_dvc.lockfile import Entry, build_entry
from prefect_dvc.status import StageStatus
from prefect_dvc.translators.pipeline import Out, StageSpec

if TYPE_CHECKING:  # NOTE: execution imports the hook protocol; avoid the cycle at runtime.
    from prefect_dvc.execution import StageExecutor

logger = logging.getLogger(__name__)

EXEC_CHECKPOINT = "refs/exps/exec/EXEC_CHECKPOINT"


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint commit of an experiment's chain."""

    step: int
    commit: str
    time: str
    metrics: Mapping[str, Any] = field(default_factory=dict)
    paused_seconds: float = 0.0

    def row(self) -> dict[str, Any]:
        """One row of the checkpoints table artifact."""
        return {
            "step": self.step,
            "time": self.time,
            **dict(self.metrics),
            "commit": self.commit[:7],
            "paused_ms": round(self.paused_seconds * 1000, 1),
        }


Listener = Callable[["CheckpointRecorder", Checkpoint], None]


def experiment_hash(entries: Mapping[str, Entry]) -> str:
    """DVC's ``exp_hash``: sha256 of the lock entries, for the commit message."""
    return hashlib.sha256(json.dumps(dict(entries), sort_keys=True).encode()).hexdigest()


def read_metrics(root: Path, stage: StageSpec) -> dict[str, Any]:
    """The stage's metrics files, flattened; keys are prefixed by file when there are several."""
    files = [o for o in stage.outs if o.kind == "metric"]
    metrics: dict[str, Any] = {}
    for out in files:
        path = root / out.repo_path
        raw = path.read_bytes() if path.is_file() else None
        data = parse_file(out.repo_path, raw, "metrics")
        prefix = f"{out.repo_path}:" if len(files) > 1 else ""
        metrics.update({prefix + key: value for key, value in data.flat.items()})
    return metrics


class CheckpointRecorder:
    """Records the checkpoints of one experiment run; shared by its stage tasks.

    Args:
        root: the workspace.
        baseline: full SHA of the experiment's baseline.
        name: the experiment's name (its ref is moved by every checkpoint).
        parent: the checkpoint this run continues from (``None``: a new chain).
        start_step: the step of ``parent`` (0 for a new chain).
        force: overwrite an existing experiment of this name with the first checkpoint.
        resumed: tell the command it resumes (``DVCLIVE_RESUME=1``).
        pipeline_has_checkpoints: whether any stage has a checkpoint out; if
            not, every stage answers a signal with an error.
        listeners: called after each checkpoint, once the command runs again.
    """

    def __init__(
        self,
        root: Path,
        *,
        baseline: str,
        name: str,
        parent: str | None,
        start_step: int = 0,
        force: bool = False,
        resumed: bool = False,
        pipeline_has_checkpoints: bool = True,
        listeners: tuple[Listener, ...] = (),
    ) -> None:
        self.root = root
        self.baseline = baseline
        self.name = name
        self.parent = parent
        self.tip = parent
        self.start_step = start_step
        self.force = force
        self.resumed = resumed
        self.pipeline_has_checkpoints = pipeline_has_checkpoints
        self.listeners = listeners
        self.records: list[Checkpoint] = []
        self._lock = threading.Lock()

    @property
    def step(self) -> int:
        return self.start_step + len(self.records)

    @contextmanager
    def watch(
        self, executor: StageExecutor, stage: StageSpec, status: StageStatus
    ) -> Iterator[dict[str, str]]:
        """Answer checkpoint signals while ``stage``'s command runs; yields its extra env.

        Raises:
            CheckpointError: on leaving, when a signal could not be recorded.
        """
        callback: SignalCallback
        if stage.checkpoint_outs:
            callback = partial(self._on_signal, executor, stage, status)
        elif not self.pipeline_has_checkpoints:
            callback = partial(self._reject, stage)
        else:
            yield {}
            return
        monitor = SignalMonitor(self.root, callback)
        env = (
            checkpoint_env(self.root, resume=self.resumed)
            if stage.checkpoint_outs
            else {MONITOR_ENV: "1", "DVC_ROOT": str(self.root)}
        )
        with monitor:
            yield env
        if monitor.errors:
            error = monitor.errors[0]
            if isinstance(error, CheckpointError):
                raise error
            raise CheckpointError(
                f"recording a checkpoint failed: {type(error).__name__}: {error}",
                path=stage.dvcfile,
                line=stage.line,
                stage=stage.name,
                hint="The checkpoints recorded before it are kept; fix the cause and resume",
            ) from error

    def _on_signal(
        self, executor: StageExecutor, stage: StageSpec, status: StageStatus
    ) -> FollowUp:
        checkpoint = self.record(executor, stage, status)
        return partial(self.notify, checkpoint)

    def _reject(self, stage: StageSpec) -> FollowUp:
        raise CheckpointError(
            "the command signalled a checkpoint, but no out of this pipeline is marked "
            "'checkpoint: true'",
            path=stage.dvcfile,
            line=stage.line,
            stage=stage.name,
            hint="Mark the model out with 'checkpoint: true' in dvc.yaml, "
            "or stop calling make_checkpoint()",
        )

    def record(self, executor: StageExecutor, stage: StageSpec, status: StageStatus) -> Checkpoint:
        """Snapshot ``stage`` now: cache its outs, write its lock entry, commit, move the ref."""
        started = time.perf_counter()
        with self._lock:
            entry = self._save_outs(executor, stage, status)
            sha = commit_experiment(
                self.root,
                baseline=self.baseline,
                name=self.name,
                paths=experiment_paths(self.root, executor.pipeline),
                message=f"dvc: commit experiment {experiment_hash({stage.name: entry})}",
                parent=self.tip,
                force=self.force and self.tip is None,
            )
            Git(self.root).run("update-ref", EXEC_CHECKPOINT, sha)
            self.tip = sha
            checkpoint = Checkpoint(
                step=self.step + 1,
                commit=sha,
                time=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                metrics=read_metrics(self.root, stage),
                paused_seconds=time.perf_counter() - started,
            )
            self.records.append(checkpoint)
        logger.info(
            "Checkpoint experiment iteration '%s' (step %d, %.0f ms)",
            sha[:7],
            checkpoint.step,
            checkpoint.paused_seconds * 1000,
        )
        return checkpoint

    def notify(self, checkpoint: Checkpoint) -> None:
        """Run the listeners; a failing listener is logged, never fatal to the run."""
        for listener in self.listeners:
            try:
                listener(self, checkpoint)
            except Exception as exc:  # artifacts are a view; the commit is what counts
                logger.warning("checkpoint listener failed: %s", exc)

    def _save_out(self, executor: StageExecutor, stage_name: str, out: Out) -> dict[str, Any]:
        """Hash and cache one out; a plain file takes a single pass (``snapshot.py``)."""
        path = self.root / out.repo_path
        local = executor.stores.local
        if out.cache and path.is_file() and local.is_local:
            info = snapshot_file(path, local)
        else:
            [(info, tree)] = executor.hasher.hash_many([path])
            if out.cache:
                executor.stores.save(path, info, tree)
        if out.cache:
            # NOTE: before the commit, so the cached model never lands in Git.
            executor.ignores.ignore_outs(stage_name, [out.repo_path])
        return info.to_lock(out.path)

    def _save_outs(self, executor: StageExecutor, stage: StageSpec, status: StageStatus) -> Entry:
        present = [o for o in stage.outs if (self.root / o.repo_path).exists()]
        if not any(o.checkpoint for o in present):
            missing = stage.checkpoint_outs[0].path
            raise CheckpointError(
                f"checkpoint out '{missing}' does not exist yet",
                path=stage.dvcfile,
                line=stage.line,
                stage=stage.name,
                hint="Write the model before calling make_checkpoint()",
            )
        outs = [self._save_out(executor, stage.name, out) for out in present]
        entry = build_entry(stage, status.deps, status.params, outs)
        executor.lock.update(stage.name, entry)
        return entry
