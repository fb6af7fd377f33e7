"""The index: every ``dvc.yaml`` of a repository as one stage graph.

Provides:
    find_dvcfiles(root): the ``dvc.yaml`` files DVC collects, POSIX paths
        relative to the root, in walk order (root first, folders sorted).
    stage_key(dvcfile, name): a stage's key in the index, DVC's
        ``addressing`` seen from the root (``train``, ``sub/dvc.yaml:train``).
    load_index(root): all of them as one checked
        :class:`~prefect_dvc.translators.pipeline.Pipeline`.
    default_dvcfile(root, cwd): the ``dvc.yaml`` a command without targets
        means (the current folder's), relative to the root.

DVC's rules (``collect_files`` in ``dvc/repo/index.py``, 3.67.1): the walk
honours ``.dvcignore`` (``.git``, ``.hg`` and ``.dvc`` are always ignored),
skips files and folders Git ignores and folders that are outs of a file
already read, and does not enter a sub-repository (a folder with its own
``.dvc``). Stages of different files form one graph: a dep on another
file's out is an edge, and an out declared twice is an error naming both.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from prefect_dvc.dvcfile import tracked_paths
from prefect_dvc.errors import PrefectDvcError
from prefect_dvc.gitignore import IgnoreChecker
from prefect_dvc.ignore import IgnoreRules, rules_for
from prefect_dvc.translators import LoadedDvcYaml, load_stages
from prefect_dvc.translators.pipeline import Pipeline, StageSpec, check_tracked_outs

PROJECT_FILE = "dvc.yaml"


def stage_key(dvcfile: str, name: str) -> str:
    """``name`` for the root ``dvc.yaml``, else ``<dvcfile>:<name>`` (DVC's ``addressing``)."""
    return name if dvcfile == PROJECT_FILE else f"{dvcfile}:{name}"


def find_dvcfiles(root: Path) -> list[str]:
    """Every ``dvc.yaml`` DVC would collect in ``root`` (see the module docstring).

    Folders Git ignores are not entered (DVC writes its cached outs there, so
    a large data folder is never walked); :func:`load_index` also drops a
    file found inside an out.
    """
    top = Path(root)
    rules = rules_for(top, top)
    assert rules is not None
    git_ignores = IgnoreChecker(top)
    try:
        return _walk(top, rules, git_ignores)
    finally:
        git_ignores.close()


def _walk(top: Path, rules: IgnoreRules, git_ignores: IgnoreChecker) -> list[str]:
    """Top-down, folders in name order: the ``dvc.yaml`` files not ignored."""
    found: list[str] = []
    stack: list[tuple[str, IgnoreRules]] = [("", rules)]
    while stack:
        rel, folder_rules = stack.pop()
        try:
            entries = sorted(os.scandir(top / rel if rel else top), key=lambda e: e.name)
        except OSError:
            continue
        subdirs: list[str] = []
        for entry in entries:
            child = f"{rel}/{entry.name}" if rel else entry.name
            if entry.is_dir(follow_symlinks=False):
                if not (
                    folder_rules.is_ignored(child, True)
                    or _is_subrepo(entry.path)
                    or git_ignores(child + "/")
                ):
                    subdirs.append(child)
            elif (
                entry.name == PROJECT_FILE
                and not folder_rules.is_ignored(child, False)
                and not git_ignores(child)
            ):
                found.append(child)
        stack.extend((child, folder_rules.descend(child)) for child in reversed(subdirs))
    return found


def _is_subrepo(path: str) -> bool:
    """A folder holding its own ``.dvc`` or ``.git`` is another repository (DVC skips it)."""
    return os.path.isdir(os.path.join(path, ".dvc")) or os.path.exists(os.path.join(path, ".git"))


def load_index(root: Path, *, skip_broken: bool = False) -> Pipeline:
    """Every ``dvc.yaml`` of ``root`` as one checked :class:`Pipeline`.

    Stages are keyed by :func:`stage_key`; ``StageSpec.lock_name`` keeps the
    name their own ``dvc.lock`` uses. Params and metrics files of every file
    are listed (relative to the root); ``plots`` and ``artifacts`` are the
    root file's, as written.

    ``skip_broken`` leaves out a file that cannot be read, as ``dvc stage
    list`` does without ``--fail``.

    Raises:
        DvcYamlError, ParamsError: a file that cannot be read (file and line).
        PipelineError: a cycle or an out declared twice, across files too.
    """
    root = Path(root)
    loaded: list[tuple[str, LoadedDvcYaml]] = []
    outs: list[str] = []
    for dvcfile in find_dvcfiles(root):
        if any(_within(dvcfile, out) for out in outs):
            continue  # NOTE: DVC does not walk into an out
        try:
            one = load_stages(root, dvcfile)
        except PrefectDvcError:
            if not skip_broken:
                raise
            continue
        loaded.append((dvcfile, one))
        outs.extend(out.repo_path for stage in one.stages for out in stage.outs)
    stages = [_keyed(dvcfile, stage) for dvcfile, one in loaded for stage in one.stages]
    main = next((one for dvcfile, one in loaded if dvcfile == PROJECT_FILE), None)
    pipeline = Pipeline.build(
        stages,
        params_files=_merged(one.params_files for _, one in loaded),
        metrics_files=_merged(one.metrics_files for _, one in loaded),
        plots=main.plots if main else (),
        artifacts=main.artifacts if main else {},
        # NOTE: the .dvc files' outs too, as in load_pipeline: DVC's graph holds both.
        tracked=tracked_paths(Path(root), skip=set(outs)),
    )
    check_tracked_outs(pipeline)
    return pipeline


def dvcfiles_of(pipeline: Pipeline) -> list[str]:
    """The pipeline files the stages of ``pipeline`` come from, in index order."""
    return list(dict.fromkeys(stage.dvcfile for stage in pipeline.stages.values()))


def default_dvcfile(root: Path, cwd: Path | None = None) -> str:
    """The ``dvc.yaml`` of ``cwd`` (default: the current folder), relative to ``root``.

    The file need not exist; commands that need it say so with DVC's words.
    """
    here = (cwd or Path.cwd()).resolve()
    rel = os.path.relpath(here, Path(root).resolve())
    if rel == "." or rel.startswith(".."):
        return PROJECT_FILE
    return posixpath.join(Path(rel).as_posix(), PROJECT_FILE)


def _keyed(dvcfile: str, stage: StageSpec) -> StageSpec:
    return replace(stage, name=stage_key(dvcfile, stage.name), dvcfile=dvcfile)


def _merged(groups: Iterable[tuple[str, ...]]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(p for group in groups for p in group))


def _within(path: str, parent: str) -> bool:
    return path.startswith(parent.rstrip("/") + "/")


__all__ = [
    "PROJECT_FILE",
    "default_dvcfile",
    "dvcfiles_of",
    "find_dvcfiles",
    "load_index",
    "stage_key",
]
