"""What an experiment commit holds: exactly DVC 3's set of files.

Provides:
    experiment_paths(root, pipeline, dvcfile): the repo-relative paths to
        commit on the baseline for a finished run.

DVC's executor (``dvc/repo/experiments/executor/base.py``) commits with
``git add --update`` (tracked files as they changed) plus what it stages
on purpose: after each stage ``_get_stage_files`` (``dvc/stage/utils.py``:
the ``dvc.yaml``, its ``dvc.lock``, every dep inside the repository that is
not DVC-tracked, every out that is not cached), the ``.gitignore`` files it
wrote, and ``_get_top_level_paths`` (top-level metrics, params and plot
sources). Those are added without ``--force``, so Git-ignored files stay
out. Any other untracked file (``notes.txt``, ``.env``, logs) is left out
of the commit, so ``exp push`` never sends it and ``exp apply`` has no
untracked file to refuse to overwrite.
"""

from __future__ import annotations

import logging
import posixpath
from pathlib import Path

from prefect_dvc.errors import PrefectDvcError
from prefect_dvc.experiments.commit import is_transient
from prefect_dvc.experiments.git import Git
from prefect_dvc.plots.definitions import collect_definitions
from prefect_dvc.translators.pipeline import Pipeline

logger = logging.getLogger(__name__)


def experiment_paths(root: Path, pipeline: Pipeline, dvcfile: str = "dvc.yaml") -> list[str]:
    """Paths an experiment commit takes from the workspace, sorted, relative to the Git top.

    Tracked files that differ from ``HEAD`` (modified, deleted or staged)
    anywhere in the work tree, plus the untracked, not Git-ignored files
    among the pipeline's own files (:func:`pipeline_files`). Never anything
    under the project's ``.dvc/tmp``. In a ``dvc init --subdir`` project the
    paths carry the project's folder (``proj/params.yaml``), as Git's trees
    and :func:`~prefect_dvc.experiments.commit.commit_experiment` spell them.

    Raises:
        GitError: ``root`` is no Git repository with a commit.
    """
    git = Git(root)
    git.head_commit()
    _top, prefix = git.work_tree()
    # NOTE: diff prints paths from the top whatever the folder; ls-files needs --full-name.
    changed = git.run("diff", "--name-only", "--no-renames", "-z", "HEAD", "--").split("\0")
    wanted = pipeline_files(root, pipeline, dvcfile)
    untracked: list[str] = []
    if wanted:
        specs = [f":(literal){p}" for p in wanted]
        listed = git.run(
            "ls-files", "--others", "--exclude-standard", "--full-name", "-z", "--", *specs
        )
        untracked = listed.split("\0")
    return sorted({p for p in [*changed, *untracked] if p and not _transient(p, prefix)})


def _transient(path: str, prefix: str) -> bool:
    """Whether ``path`` (from the Git top) is in the project's ``.dvc/tmp``."""
    return path.startswith(prefix) and is_transient(path[len(prefix) :])


def pipeline_files(root: Path, pipeline: Pipeline, dvcfile: str = "dvc.yaml") -> list[str]:
    """The files DVC stages on purpose for an experiment (whether or not they exist).

    ``dvc.yaml`` and ``dvc.lock`` files, deps that are no cached out (nor
    inside one) of the pipeline, uncached outs, the ``.gitignore`` beside
    each cached out, and the top-level metrics, params and plot sources.
    """
    cached = [out.repo_path for _, out in pipeline.iter_outs() if out.cache]
    found: dict[str, None] = {}
    for name in {dvcfile, *(s.dvcfile for s in pipeline.stages.values())}:
        found[posixpath.normpath(name)] = None
        found[posixpath.join(posixpath.dirname(posixpath.normpath(name)), "dvc.lock")] = None
    for stage in pipeline.stages.values():
        for dep in (*stage.dep_repo_paths, *(p.repo_path for p in stage.params)):
            if not any(_within(dep, out) for out in cached):
                found[dep] = None
        for out in stage.outs:
            if out.cache:
                found[posixpath.join(posixpath.dirname(out.repo_path), ".gitignore")] = None
            else:
                found[out.repo_path] = None
    for path in (*pipeline.metrics_files, *pipeline.params_files, *_plot_sources(root, dvcfile)):
        found[path] = None
    return [posixpath.normpath(p) for p in found]


def _plot_sources(root: Path, dvcfile: str) -> list[str]:
    try:
        return [src for plot in collect_definitions(root, dvcfile) for src in plot.sources]
    except PrefectDvcError as exc:  # a broken plot definition never blocks the commit
        logger.warning("plot files not added to the experiment: %s", exc)
        return []


def _within(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent + "/")
