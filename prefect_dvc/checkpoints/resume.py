"""Which checkpoint an ``exp run`` continues from, and putting it back in the workspace.

Provides:
    checkpoint_stage(pipeline): the stage with a checkpoint out, if any.
    ResumePoint: a checkpoint commit, its experiment and its step.
    find_resume_point(root, resume=, reset=): ``--rev`` resolved, or the
        checkpoint the workspace holds (``exp run`` with no flag), or ``None``.
    resume_name(point, name): the name to validate before the run (``None``
        when the run continues ``point``'s experiment, which already exists).
    chain(git, baseline, tip): the commits of a chain, tip first.
    restore_checkpoint(root, point, stage): ``dvc.lock``, outs and metrics of
        the checkpoint back in the workspace.
    params_differ(root, stage, commit): whether resuming must branch off.
    reset_outs(root, stage): ``--reset``: delete the checkpoint outs.
    step_target(root, stage): the param that says how many steps a run makes.
    history(root, stage, baseline, tip): the chain's checkpoints, read from Git.

Auto-resume (DVC 2 used ``EXEC_CHECKPOINT`` and ``EXEC_APPLY``): the
workspace resumes the checkpoint whose ``dvc.lock`` entry for the checkpoint
stage it still holds, looking at ``EXEC_CHECKPOINT`` first and then at every
chain of the current baseline. That also covers ``exp apply CHECKPOINT``
followed by ``exp run``, and a run killed after some checkpoints (each
checkpoint writes the entry, so the workspace names the last good one).
"""

from __future__ import annotations

import contextlib
import posixpath
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect_dvc.checkpoints.recorder import EXEC_CHECKPOINT, Checkpoint
from prefect_dvc.errors import CheckpointError
from prefect_dvc.experiments.collect import flatten, parse_file
from prefect_dvc.experiments.git import Git
from prefect_dvc.experiments.refs import ExpRef, list_exp_refs, resolve_exp
from prefect_dvc.lockfile import read_lock
from prefect_dvc.lockschema import parse_lock
from prefect_dvc.project import restore_outs
from prefect_dvc.safety import check_write_target, remove_workspace_path
from prefect_dvc.translators.index import load_index
from prefect_dvc.translators.params import params_lock_values
from prefect_dvc.translators.pipeline import Pipeline, StageSpec
from prefect_dvc.yamlio import atomic_write


def checkpoint_stage(pipeline: Pipeline) -> StageSpec | None:
    """The (only) stage with an out marked ``checkpoint: true``."""
    return next((s for s in pipeline.stages.values() if s.checkpoint_outs), None)


@dataclass(frozen=True)
class ResumePoint:
    """Checkpoint ``commit`` of experiment ``exp`` (whose tip is ``tip``), at ``step``."""

    exp: ExpRef
    commit: str
    tip: str
    step: int

    @property
    def is_tip(self) -> bool:
        return self.commit == self.tip


def chain(git: Git, baseline: str, tip: str) -> list[str]:
    """Commits from ``tip`` back along first parents to ``baseline`` (excluded), tip first."""
    return git.run("rev-list", "--first-parent", tip, f"^{baseline}").split()


def _point(git: Git, exp: ExpRef, commit: str) -> ResumePoint:
    tip = git.rev_parse(exp.ref)
    commits = chain(git, exp.baseline, tip)
    return ResumePoint(exp, commit, tip, len(commits) - commits.index(commit))


def _lock_path(stage: StageSpec) -> str:
    return posixpath.join(posixpath.dirname(stage.dvcfile), "dvc.lock")


def _show(root: Path, commit: str, path: str) -> bytes | None:
    """The bytes of ``path`` at ``commit``, or ``None`` if it is not there."""
    proc = subprocess.run(
        ["git", "show", f"{commit}:./{path}"], cwd=root, capture_output=True, check=False
    )
    return proc.stdout if proc.returncode == 0 else None


def _entry_at(git: Git, commit: str, stage: StageSpec) -> dict[str, Any] | None:
    raw = _show(git.root, commit, _lock_path(stage))
    if raw is None:
        return None
    entry = parse_lock(raw.decode(), _lock_path(stage)).get(stage.name)
    return dict(entry) if entry else None


def _outs(entry: dict[str, Any] | None) -> list[Any]:
    return list((entry or {}).get("outs") or [])


def find_resume_point(root: Path, *, resume: str | None, reset: bool) -> ResumePoint | None:
    """The checkpoint this run continues from, or ``None`` for a new chain.

    Raises:
        CheckpointError: ``--rev`` with ``--reset``, or ``--rev`` without a checkpoint stage.
        ExperimentNotFoundError: ``resume`` names no experiment or checkpoint.
    """
    if resume and reset:
        raise CheckpointError(
            "--rev and --reset cannot be used together",
            hint="Use --rev to continue a checkpoint, --reset to start a new chain",
        )
    stage = checkpoint_stage(load_index(root))
    if resume:
        if stage is None:
            raise CheckpointError(
                f"--rev {resume} resumes a checkpoint, but no stage has a 'checkpoint: true' out",
                hint="Mark the model out with 'checkpoint: true' in dvc.yaml",
            )
        git = Git(root)
        exp, sha = resolve_exp(git, resume)
        return _point(git, exp, sha)
    if stage is None or reset:
        return None
    return _auto_point(root, stage)


def _auto_point(root: Path, stage: StageSpec) -> ResumePoint | None:
    """The checkpoint whose lock entry the workspace holds, on HEAD's baseline."""
    git = Git(root)
    head = git.try_rev_parse("HEAD")
    wanted = _outs(read_lock(root / _lock_path(stage)).get(stage.name))
    if head is None or not wanted:
        return None
    last = git.try_rev_parse(EXEC_CHECKPOINT)
    chains = [(exp, chain(git, head, tip)) for exp, tip in list_exp_refs(git, head)]
    # NOTE: EXEC_CHECKPOINT first (the usual case: one lookup), then every tip down.
    chains.sort(key=lambda item: last not in item[1])
    for exp, commits in chains:
        ordered = ([last] if last in commits else []) + [c for c in commits if c != last]
        for commit in ordered:
            if _outs(_entry_at(git, commit, stage)) == wanted:
                return _point(git, exp, commit)
    return None


def resume_name(point: ResumePoint | None, name: str | None) -> str | None:
    """``name`` to validate up front; ``None`` when continuing ``point``'s own experiment."""
    if point is not None and name in (None, point.exp.name):
        return None
    return name


def restore_checkpoint(root: Path, point: ResumePoint, stage: StageSpec) -> list[str]:
    """Put the checkpoint's ``dvc.lock``, outs and metrics in the workspace; params stay.

    Returns the paths that changed. Cached outs come from the cache (or the
    default remote); ``cache: false`` outs (metrics) from the commit.
    """
    lock_rel = _lock_path(stage)
    changed: list[str] = []
    for rel in [lock_rel, *(o.repo_path for o in stage.outs if not o.cache)]:
        data = _show(root, point.commit, rel)
        path = check_write_target(root, rel)
        if data is not None and (not path.is_file() or path.read_bytes() != data):
            atomic_write(path, data)
            changed.append(rel)
    changed.extend(restore_outs(root))
    return changed


def params_differ(root: Path, stage: StageSpec, commit: str) -> bool:
    """Whether the stage's params now differ from those recorded at ``commit``."""
    entry = _entry_at(Git(root), commit, stage) or {}
    return (entry.get("params") or {}) != params_lock_values(root, stage)


def reset_outs(root: Path, stage: StageSpec) -> list[str]:
    """``--reset``: delete the checkpoint outs so the command starts from scratch."""
    removed = []
    for out in stage.checkpoint_outs:
        if remove_workspace_path(root, out.repo_path):
            removed.append(out.repo_path)
    with contextlib.suppress(Exception):
        Git(root).run("update-ref", "-d", EXEC_CHECKPOINT)
    return removed


TARGET_META_KEY = "checkpoint_target"
TARGET_NAMES = ("epochs", "n_epochs", "num_epochs", "max_epochs", "steps", "max_steps", "n_steps")


def step_target(root: Path, stage: StageSpec) -> tuple[str, int] | None:
    """The param giving the number of checkpoints a run should reach, and its value.

    ``meta: {checkpoint_target: train.epochs}`` on the stage names it; otherwise
    the first tracked param whose last key is one of :data:`TARGET_NAMES`.
    Returns ``None`` when there is none or it is not a positive integer.
    """
    values = {
        key: value
        for file_values in params_lock_values(root, stage).values()
        for key, value in flatten(file_values).items()
    }
    meta = stage.meta if isinstance(stage.meta, dict) else {}
    wanted = meta.get(TARGET_META_KEY)
    keys = [wanted] if wanted else [k for k in values if k.rpartition(".")[2] in TARGET_NAMES]
    for key in keys:
        value = values.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return key, value
    return None


def history(root: Path, stage: StageSpec, baseline: str, tip: str | None) -> list[Checkpoint]:
    """The checkpoints of the chain ending at ``tip``, oldest first, metrics read from Git."""
    if tip is None:
        return []
    out = Git(root).run("log", "--first-parent", "--format=%H %cI", tip, f"^{baseline}")
    lines = [line.split(" ", 1) for line in reversed(out.splitlines()) if line]
    metric_files = [o.repo_path for o in stage.outs if o.kind == "metric"]
    found = []
    for step, (sha, when) in enumerate(lines, start=1):
        metrics: dict[str, Any] = {}
        for rel in metric_files:
            data = parse_file(rel, _show(root, sha, rel), "metrics").flat
            prefix = f"{rel}:" if len(metric_files) > 1 else ""
            metrics.update({prefix + k: v for k, v in data.items()})
        found.append(Checkpoint(step=step, commit=sha, time=when, metrics=metrics))
    return found
