"""``exp save``: record the workspace as it is as an experiment, without running anything.

Provides:
    SavedExperiment: the new experiment (name, baseline, commit) and the
        untracked files left out of it.
    save_experiment(root, name, include, message, force, cwd): DVC's ``exp save``.

Follows ``dvc/repo/experiments/save.py`` and ``executor/base.py::save``:
every stage is committed as ``dvc commit --force`` does (outs hashed and
cached, ``dvc.lock`` and run-cache entries written), then one commit on
``HEAD`` takes the tracked files that changed (``git add --update``), the
``-I/--include-untracked`` paths, the top-level metrics/params/plot files
and an untracked ``dvc.lock``; the message is ``dvc: commit experiment
<sha256 of the lock entries>`` unless ``-m``. Unlike DVC 3.67.1, the
pickled ``.dvc/tmp/repro.dat`` is never committed (formats.md §9 item 2),
and an experiment that exists is refused before anything is written.
The commit is made in a private index (``experiments/commit.py``): ``HEAD``,
the branch and the index stay as they were.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from prefect_dvc.checkpoints.recorder import experiment_hash
from prefect_dvc.errors import ExperimentExistsError, GitError, PrefectDvcError, StageError
from prefect_dvc.execution import open_executor
from prefect_dvc.experiments.commit import commit_experiment, is_transient
from prefect_dvc.experiments.git import Git
from prefect_dvc.experiments.names import new_name_for
from prefect_dvc.experiments.refs import ExpRef, validate_name
from prefect_dvc.lockfile import Entry
from prefect_dvc.plots.definitions import collect_definitions
from prefect_dvc.translators import load_pipeline
from prefect_dvc.translators.pipeline import Pipeline


@dataclass(frozen=True)
class SavedExperiment:
    """An experiment made by :func:`save_experiment`.

    Attributes:
        name: the experiment's name (given or generated).
        baseline: the ``HEAD`` commit it was saved on (40 hex).
        commit: the experiment commit (40 hex).
        left_out: untracked, not ignored files that are not in the commit.
    """

    name: str
    baseline: str
    commit: str
    left_out: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        """``refs/exps/<baseline[:2]>/<baseline[2:]>/<name>``."""
        return ExpRef(self.baseline, self.name).ref


def save_experiment(
    root: Path,
    *,
    name: str | None = None,
    include: Sequence[str] = (),
    message: str | None = None,
    force: bool = False,
    cwd: Path | None = None,
    dvcfile: str = "dvc.yaml",
) -> SavedExperiment:
    """Commit every stage and record the workspace as experiment ``name`` of ``HEAD``.

    Args:
        root: repository root.
        name: the experiment name; a fresh generated one when ``None``.
        include: ``-I`` paths (relative to ``cwd``), added even if untracked.
        message: the commit message (default DVC's ``dvc: commit experiment <hash>``).
        force: replace an experiment of that name.
        cwd: the folder ``include`` paths are relative to (default ``root``).
        dvcfile: the pipeline whose stages are committed.

    Raises:
        ExperimentExistsError: the name is taken and ``force`` is false (nothing written).
        GitError: an invalid name, an ``-I`` path that does not exist or leaves
            the repository, no commit to save on.
        StageError: a stage's dep or out does not exist.
    """
    git = Git(root)
    baseline = git.head_commit()
    name = name or new_name_for(git, baseline)
    validate_name(name)
    if not force and git.try_rev_parse(ExpRef(baseline, name).ref) is not None:
        raise ExperimentExistsError(
            f"experiment '{name}' already exists for baseline {baseline[:7]}",
            hint="Use -f to overwrite it, or -n to pick another name; nothing was changed",
        )
    included = [_repo_path(root, cwd or root, p) for p in include]
    pipeline = load_pipeline(root, dvcfile) if (root / dvcfile).exists() else None
    entries = _commit_stages(root, pipeline, dvcfile) if pipeline else {}
    paths = sorted({*_tracked_changes(git), *included, *_top_level(root, pipeline, dvcfile)})
    text = message or f"dvc: commit experiment {experiment_hash(entries)}"
    sha = commit_experiment(
        root, baseline=baseline, name=name, paths=paths, message=text, force=force
    )
    return SavedExperiment(name, baseline, sha, _left_out(git, paths))


def _repo_path(root: Path, cwd: Path, path: str) -> str:
    full = Path(os.path.normpath(cwd / path))
    if not full.is_relative_to(root) or full == root or not os.path.lexists(full):
        raise GitError(
            f"cannot include '{path}': it is no file or folder inside the repository",
            hint="Pass an existing path inside the project to -I/--include-untracked; "
            "nothing was changed",
        )
    return full.relative_to(root).as_posix()


def _commit_stages(root: Path, pipeline: Pipeline, dvcfile: str) -> dict[str, Entry]:
    executor = open_executor(root, pipeline, dvcfile=dvcfile, use_remote=False)
    try:
        # NOTE: every stage is checked before the first is committed, so a
        # missing out of the last stage leaves dvc.lock and the cache as they were
        for name in pipeline.order():
            missing = executor.commit_missing(name)
            if missing:
                stage = pipeline.stages[name]
                raise StageError(
                    f"cannot save: '{missing[0]}' does not exist",
                    path=stage.dvcfile,
                    line=stage.line,
                    stage=name,
                    hint="Run the stage ('prefect-dvc repro') or restore the file; "
                    "nothing was changed",
                )
        return {name: executor.commit_stage(name) for name in pipeline.order()}
    finally:
        executor.close()


def _tracked_changes(git: Git) -> list[str]:
    """What ``git add --update`` would stage: tracked files that differ from ``HEAD``."""
    out = git.run("diff", "--name-only", "--no-renames", "-z", "HEAD", "--")
    return [p for p in out.split("\0") if p and not is_transient(p)]


def _top_level(root: Path, pipeline: Pipeline | None, dvcfile: str) -> list[str]:
    """DVC's ``_get_top_level_paths`` plus ``dvc.lock``: files DVC adds even when untracked."""
    if pipeline is None:
        return []
    lock = str(Path(dvcfile).with_name("dvc.lock").as_posix())
    found = [*pipeline.metrics_files, *pipeline.params_files, lock]
    # NOTE: a broken plot definition never blocks a save (as in exp run)
    with contextlib.suppress(PrefectDvcError):
        found += [src for plot in collect_definitions(root, dvcfile) for src in plot.sources]
    return [p for p in found if os.path.lexists(root / p)]


def _left_out(git: Git, committed: Sequence[str]) -> tuple[str, ...]:
    listed = git.run("ls-files", "--others", "--exclude-standard", "-z").split("\0")
    taken = set(committed)
    return tuple(
        p
        for p in listed
        if p
        and not is_transient(p)
        and p not in taken
        and not any(p.startswith(t + "/") for t in taken)
    )
