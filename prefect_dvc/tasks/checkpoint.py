"""Checkpoints in a Prefect run: start the recorder, publish artifacts, finish the chain.

Provides:
    CheckpointRun: the recorder of one ``exp_run`` plus where it resumes.
    start_checkpoints(root, ...): decide resume / branch / reset, restore the
        checkpoint to resume from, and build the recorder (``None`` when the
        pipeline has no checkpoint stage).
    CheckpointArtifacts: the listener that publishes, keyed by experiment,
        ``exp-<name>-checkpoints`` (a table, one row per checkpoint of the
        chain), ``exp-<name>-progress`` (steps of this run / the step target)
        and ``exp-<name>-checkpoint`` (markdown: how to apply or resume it).
    finish_checkpoints(...): the run's end: a last commit when anything changed
        after the last checkpoint, and the state naming the last good checkpoint.

Artifacts are made from the monitor thread, which runs in a copy of the
stage task's context, so they are linked to the flow run and the task run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.states import State

from prefect_dvc.checkpoints.recorder import EXEC_CHECKPOINT, Checkpoint, CheckpointRecorder
from prefect_dvc.checkpoints.resume import (
    ResumePoint,
    checkpoint_stage,
    history,
    params_differ,
    reset_outs,
    restore_checkpoint,
    step_target,
)
from prefect_dvc.experiments.commit import commit_experiment
from prefect_dvc.experiments.contents import experiment_paths
from prefect_dvc.experiments.git import Git
from prefect_dvc.experiments.names import new_name_for
from prefect_dvc.experiments.refs import ExpRef
from prefect_dvc.tasks.artifacts import artifact_key
from prefect_dvc.tasks.finalize import ExperimentResult, experiment_hash
from prefect_dvc.translators.flow import PipelineRun, failed_state
from prefect_dvc.translators.index import load_index
from prefect_dvc.translators.pipeline import StageSpec

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckpointRun:
    """The recorder of one run, its experiment, and the checkpoint it resumed (if any)."""

    recorder: CheckpointRecorder
    stage: StageSpec | None
    resumed: ResumePoint | None

    @property
    def active(self) -> bool:
        """Whether the pipeline has a checkpoint stage (else the hook only rejects signals)."""
        return self.stage is not None

    @property
    def name(self) -> str:
        return self.recorder.name

    @property
    def baseline(self) -> str:
        return self.recorder.baseline


def start_checkpoints(
    root: Path,
    *,
    baseline: str,
    name: str,
    given_name: str | None,
    point: ResumePoint | None,
    reset: bool,
    force: bool,
) -> CheckpointRun:
    """Prepare the chain this run extends; call after the params overrides are applied.

    Continuing ``point``'s experiment needs ``point`` to be its tip and the
    params unchanged; otherwise (a middle checkpoint, changed params, or
    another ``-n``) the run starts a new experiment whose chain branches off
    ``point``, as DVC 2 did. ``name`` is the name prepared for a new experiment.
    Without a checkpoint stage the recorder only turns a stray signal into an error.
    """
    stage = checkpoint_stage(load_index(root))
    if stage is None:
        guard = CheckpointRecorder(
            root, baseline=baseline, name=name, parent=None, pipeline_has_checkpoints=False
        )
        return CheckpointRun(guard, None, None)
    if reset:
        removed = reset_outs(root, stage)
        logger.info("--reset: removed %s; a new checkpoint chain starts", removed or "nothing")
    if point is not None:
        restore_checkpoint(root, point, stage)
        same = given_name in (None, point.exp.name)
        if same and point.is_tip and not params_differ(root, stage, point.commit):
            name = point.exp.name
        elif same:
            name = new_name_for(Git(root), point.exp.baseline)
        baseline = point.exp.baseline
    target = step_target(root, stage)
    earlier = history(root, stage, baseline, point.commit if point else None)
    artifacts = CheckpointArtifacts(name, target, [c.row() for c in earlier])
    recorder = CheckpointRecorder(
        root,
        baseline=baseline,
        name=name,
        parent=point.commit if point else None,
        start_step=point.step if point else 0,
        force=force,
        resumed=point is not None,
        listeners=(artifacts,),
    )
    return CheckpointRun(recorder, stage, point)


class CheckpointArtifacts:
    """Publishes a checkpoint's Prefect artifacts (a recorder listener)."""

    def __init__(self, name: str, target: tuple[str, int] | None, rows: list[dict[str, Any]]):
        self.name = name
        self.target = target
        self.rows = list(rows)
        self._progress: UUID | None = None

    def __call__(self, recorder: CheckpointRecorder, checkpoint: Checkpoint) -> None:
        self.rows.append(checkpoint.row())
        columns = list(dict.fromkeys(k for row in self.rows for k in row))
        create_table_artifact(
            table=[{c: row.get(c, "") for c in columns} for row in self.rows],
            key=artifact_key("exp", self.name, "checkpoints"),
            description=f"Checkpoints of experiment **{self.name}** (latest: step "
            f"{checkpoint.step}, {checkpoint.commit[:7]})",
        )
        create_markdown_artifact(
            markdown=checkpoint_markdown(self.name, checkpoint),
            key=artifact_key("exp", self.name, "checkpoint"),
            description=f"Latest checkpoint of **{self.name}**",
        )
        if self.target is not None:
            self._update_progress(len(recorder.records))

    def _update_progress(self, done: int) -> None:
        assert self.target is not None
        key, total = self.target
        percent = min(100.0, 100.0 * done / total)
        text = f"{done} of {total} steps ({key}) of experiment {self.name}"
        if self._progress is None:
            self._progress = create_progress_artifact(
                progress=percent, key=artifact_key("exp", self.name, "progress"), description=text
            )
        else:
            update_progress_artifact(self._progress, progress=percent, description=text)


def checkpoint_markdown(name: str, checkpoint: Checkpoint) -> str:
    """How to look at, apply and resume one checkpoint."""
    sha = checkpoint.commit[:7]
    metrics = "\n".join(f"| {k} | {v} |" for k, v in checkpoint.metrics.items())
    table = f"| metric | value |\n|---|---|\n{metrics}\n" if metrics else "_no metrics_\n"
    return (
        f"# Checkpoint {checkpoint.step} of experiment `{name}`\n\n"
        f"Commit `{checkpoint.commit}` at {checkpoint.time}; the command was paused "
        f"{checkpoint.paused_seconds * 1000:.0f} ms to record it.\n\n{table}\n"
        f"- Restore its outs and metrics: `prefect-dvc exp apply {sha}`\n"
        f"- Continue training from it: `prefect-dvc exp run --rev {sha}`\n"
        f"- Start a new chain instead: `prefect-dvc exp run --reset`\n"
    )


def failed_checkpoints(run: CheckpointRun, result: PipelineRun) -> State:
    """The failed state of a checkpoint run, naming the last good checkpoint.

    The recorded checkpoints stay: each one is already a commit on the chain.
    """
    recorder = run.recorder
    tip = recorder.tip
    if tip is None:
        return failed_state(result)
    text = (
        f"{result.summary()} -- {len(recorder.records)} checkpoint(s) recorded in this run; "
        f"the last good one is step {recorder.step} ({tip[:7]}) of experiment "
        f"'{recorder.name}': 'prefect-dvc exp run' resumes it"
    )
    logger.warning("%s", text)
    return failed_state(result, text)


def finish_checkpoints(
    run: CheckpointRun, result: PipelineRun, *, message: str | None
) -> ExperimentResult:
    """End a successful checkpoint run: commit what changed after the last checkpoint."""
    recorder = run.recorder
    root = recorder.root
    text = message or f"dvc: commit experiment {experiment_hash(result.results)}"
    sha = _final_commit(root, recorder, text)
    git = Git(root)
    git.run("update-ref", EXEC_CHECKPOINT, sha)
    logger.info(
        "Experiment '%s' at %s: %d checkpoint(s) in this run, step %d",
        recorder.name,
        sha[:7],
        len(recorder.records),
        recorder.step,
    )
    return ExperimentResult(name=recorder.name, baseline=recorder.baseline, commit=sha)


def _final_commit(root: Path, recorder: CheckpointRecorder, message: str) -> str:
    """Commit the workspace on the chain; keep the tip when nothing changed since it."""
    parent = recorder.tip
    sha = commit_experiment(
        root,
        baseline=recorder.baseline,
        name=recorder.name,
        paths=experiment_paths(root, load_index(root)),
        message=message,
        parent=parent,
        force=recorder.force and parent is None,
    )
    git = Git(root)
    trees = git.run("rev-parse", f"{sha}^{{tree}}", f"{parent or sha}^{{tree}}").split()
    if parent is not None and trees[0] == trees[1]:
        git.update_ref(ExpRef(recorder.baseline, recorder.name).ref, parent, sha)
        return parent
    return sha
