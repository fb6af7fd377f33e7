"""``commit``: record the workspace state of ``.dvc`` files and stages without running anything.

Provides:
    CommitResult: the ``.dvc`` files rewritten and whether ``dvc.lock`` changed.
    commit(root, cwd, targets, *, force, relink): the command.

DVC 3.67.1 (``dvc/repo/commit.py``, ``dvc/commands/commit.py``): each
target (a ``.dvc`` file, a path it tracks, a stage name, ``dvc.yaml:stage``
or a stage's out; none means every stage of the repository, in the index's
order) selects stages; a stage whose deps, outs or command changed since it
was recorded needs confirmation, which a non-interactive terminal never
gives, so without ``-f`` the command fails there with "failed to commit
TARGET - unable to commit changed stage: 'NAME'. Use `-f|--force` to
force." Stages before it stay committed, as in DVC (they were unchanged, so
committing them only puts their outs into the cache). A missing out fails
with "output 'PATH' does not exist".
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from prefect_dvc.dvcfile import DvcFile, load_dvcfile
from prefect_dvc.errors import PrefectDvcError, TrackedDataError
from prefect_dvc.execution import StageExecutor, open_executor
from prefect_dvc.gitignore import ensure_ignored
from prefect_dvc.project import open_stores_for
from prefect_dvc.repo import RepoPaths, locate_dvcfile
from prefect_dvc.storage.hashing import Hasher
from prefect_dvc.storage.stores import Stores
from prefect_dvc.tracked.dvcfiles import DvcFileWriter, tracked_entry
from prefect_dvc.tracked.save import hash_path, save_to_cache
from prefect_dvc.tracked.status import out_state, project_files, split_targets
from prefect_dvc.translators import load_pipeline
from prefect_dvc.translators.pipeline import Pipeline

CHANGED_FMT = "unable to commit changed stage: '{name}'. Use `-f|--force` to force."


@dataclass(frozen=True)
class CommitResult:
    """What ``commit`` wrote: ``.dvc`` files (repo paths) and whether ``dvc.lock`` changed."""

    dvcfiles: tuple[str, ...]
    lock_updated: bool


@dataclass(frozen=True)
class _Item:
    dvcfile: str | None = None  # a .dvc file
    stage: str | None = None  # a stage of the pipeline


class _Session:
    """The stores, hasher and executor of one ``commit``, opened on first use."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pipeline_file = locate_dvcfile(root)
        self._stores: tuple[Stores, Hasher] | None = None
        self._pipeline: Pipeline | None = None
        self._executor: StageExecutor | None = None
        self.writer = DvcFileWriter(root)

    def stores(self) -> tuple[Stores, Hasher]:
        if self._stores is None:
            self._stores = open_stores_for(self.root, use_remote=False)
        return self._stores

    def pipeline(self) -> Pipeline:
        if self._pipeline is None:
            self._pipeline = load_pipeline(self.root, self.pipeline_file)
        return self._pipeline

    def executor(self) -> StageExecutor:
        if self._executor is None:
            self._executor = open_executor(
                self.root, self.pipeline(), dvcfile=self.pipeline_file, use_remote=False
            )
        return self._executor

    def close(self) -> None:
        if self._stores is not None:
            self._stores[1].close()
        if self._executor is not None:
            self._executor.close()


def commit(
    root: Path, cwd: Path, targets: Sequence[str], *, force: bool = False, relink: bool = True
) -> CommitResult:
    """Commit ``targets`` (all stages when empty) as ``dvc commit`` does.

    Raises:
        TrackedDataError: "failed to commit[ TARGET] - ..." for a changed
            stage without ``force``, a missing out, or an unknown target.
    """
    session = _Session(root)
    lock = RepoPaths(root).lock_path(session.pipeline_file)
    before = lock.read_bytes() if lock.is_file() else None
    try:
        for target in targets or [None]:
            try:
                for item in _select(session, cwd, target):
                    _commit_item(session, item, force=force, relink=relink)
            except PrefectDvcError as exc:
                where = f" {target}" if target else ""
                raise TrackedDataError(f"failed to commit{where} - {exc}") from exc
    finally:
        session.close()
    after = lock.read_bytes() if lock.is_file() else None
    return CommitResult(session.writer.changed(), after != before)


def _select(session: _Session, cwd: Path, target: str | None) -> list[_Item]:
    root = session.root
    if target is None:
        items: list[_Item] = []
        for path in project_files(root):
            if path.endswith(".dvc"):
                items.append(_Item(dvcfile=path))
            elif path == session.pipeline_file:
                items.extend(_Item(stage=name) for name in session.pipeline().stages)
        return items
    files, rest = split_targets(root, cwd, [target])
    if files:
        return [_Item(dvcfile=f) for f in files]
    return [_Item(stage=name) for name in _stages_for(session, cwd, rest[0])]


def _stages_for(session: _Session, cwd: Path, target: str) -> list[str]:
    """A stage name, ``dvc.yaml:stage`` or a stage's out, as DVC's ``collect_granular``."""
    pipeline = session.pipeline() if (session.root / session.pipeline_file).is_file() else None
    name = target.split(":", 1)[1] if ":" in target else target
    if pipeline is not None and name in pipeline.stages:
        return [name]
    rel = os.path.relpath(os.path.join(cwd, target), session.root).replace(os.sep, "/")
    if pipeline is not None:
        for stage in pipeline.stages.values():
            if any(o.repo_path == rel for o in stage.outs):
                return [stage.name]
    raise TrackedDataError(
        f"'{target}' does not exist as an output or a stage name in 'dvc.yaml': "
        f"Stage '{target}' not found inside 'dvc.yaml' file"
    )


def _commit_item(session: _Session, item: _Item, *, force: bool, relink: bool) -> None:
    if item.dvcfile is not None:
        _commit_dvcfile(session, load_dvcfile(session.root, item.dvcfile), force, relink)
    elif item.stage is not None:
        _commit_stage(session, item.stage, force)


def _commit_dvcfile(session: _Session, dvcfile: DvcFile, force: bool, relink: bool) -> None:
    root = session.root
    stores, hasher = session.stores()
    changed = [
        o for o in dvcfile.outs if out_state(root, o, hasher, lambda _info: True) is not None
    ]
    if changed and not force:
        raise TrackedDataError(CHANGED_FMT.format(name=dvcfile.repo_path))
    for out in dvcfile.outs:
        if out.repo_path is None:
            continue
        path = root / out.repo_path
        if not os.path.lexists(path):
            raise TrackedDataError(f"output '{out.path}' does not exist")
        info, tree = hash_path(hasher, path)
        if out.cache:
            save_to_cache(stores, path, info, tree, relink=relink)
            ensure_ignored(root, out.repo_path)
        entry = tracked_entry(dvcfile.repo_path, out.repo_path, info, dict(out.raw))
        if entry != dict(out.raw):
            session.writer.write(dvcfile.repo_path, entry)


def _commit_stage(session: _Session, name: str, force: bool) -> None:
    executor = session.executor()
    stage = session.pipeline().stages[name]
    status = executor.status(name)
    if status.changed and not force:
        raise TrackedDataError(CHANGED_FMT.format(name=name))
    for out in stage.outs:
        if not (session.root / out.repo_path).exists():
            raise TrackedDataError(f"output '{out.path}' does not exist")
    executor.commit(name, status)
