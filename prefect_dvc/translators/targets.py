"""Command targets and default scopes over the index, as DVC reads them.

Provides:
    Scope: where a command runs (the root and the current folder).
    Scope.select(pipeline, targets, outs=, recursive=): the stage keys a
        list of targets names (before adding upstream stages).
    Scope.default_stages(pipeline): the stages of the current folder's
        ``dvc.yaml`` (what ``repro``/``exp run`` without targets start from).
    Scope.show(key, pipeline) / Scope.show_path(repo_path): a stage or a
        path as DVC prints it, relative to the current folder.

DVC's rules (``parse_target`` in ``dvc/utils/__init__.py``, ``collect`` and
``collect_granular`` in ``dvc/repo/stage.py``, 3.67.1): a target is
``path/dvc.yaml`` (all its stages), ``path/dvc.yaml:name``, or a bare
``name`` of the current folder's ``dvc.yaml`` (a stage or a ``foreach``/
``matrix`` group); paths are relative to the current folder. With
``outs`` (``status``), a bare target that is no stage may name an out or a
path inside one; with ``recursive`` (``-R``), a folder takes every stage of
the pipeline files under it.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from prefect_dvc.errors import TargetNotFoundError
from prefect_dvc.gitignore import is_ignored
from prefect_dvc.translators.index import PROJECT_FILE, find_dvcfiles
from prefect_dvc.translators.pipeline import Pipeline

LOCK_FILE = "dvc.lock"


@dataclass(frozen=True)
class Scope:
    """A command's place in the project: ``root`` and ``cwd``, both absolute."""

    root: Path
    cwd: Path

    @classmethod
    def here(cls, root: Path, cwd: Path | None = None) -> Scope:
        """The scope of ``cwd`` (default: the current folder) in the project at ``root``."""
        return cls(Path(root).resolve(), (cwd or Path.cwd()).resolve())

    def repo_path(self, path: str) -> str:
        """``path`` (relative to ``cwd``) relative to the root, POSIX."""
        rel = os.path.relpath(os.path.normpath(self.cwd / path), self.root)
        return Path(rel).as_posix()

    def show_path(self, repo_path: str) -> str:
        """A root-relative path as DVC prints it: relative to ``cwd``."""
        return Path(os.path.relpath(self.root / repo_path, self.cwd)).as_posix()

    def show(self, key: str, pipeline: Pipeline) -> str:
        """Stage ``key`` as DVC addresses it from ``cwd`` (``train``, ``../dvc.yaml:prepare``)."""
        stage = pipeline.stages[key]
        where = self.show_path(stage.dvcfile)
        return stage.lock_name if where == PROJECT_FILE else f"{where}:{stage.lock_name}"

    @property
    def dvcfile(self) -> str:
        """The current folder's ``dvc.yaml``, relative to the root."""
        return self.repo_path(PROJECT_FILE)

    def default_stages(self, pipeline: Pipeline) -> list[str]:
        """Stages of the current folder's ``dvc.yaml``, in file order.

        Raises:
            TargetNotFoundError: there is no ``dvc.yaml`` here (DVC's words).
        """
        if not (self.root / self.dvcfile).is_file():
            raise TargetNotFoundError(f"'{self.cwd / PROJECT_FILE}' does not exist")
        return [k for k, s in pipeline.stages.items() if s.dvcfile == self.dvcfile]

    def select(
        self,
        pipeline: Pipeline,
        targets: Iterable[str],
        *,
        outs: bool = False,
        recursive: bool = False,
    ) -> list[str]:
        """Stage keys named by ``targets``, without repeats, in target then file order.

        Raises:
            TargetNotFoundError: a target naming no file, stage (or out), in DVC's words.
        """
        chosen: dict[str, None] = {}
        for target in targets:
            chosen.update(dict.fromkeys(self._one(pipeline, target, outs, recursive)))
        return list(chosen)

    def _one(self, pipeline: Pipeline, target: str, outs: bool, recursive: bool) -> list[str]:
        target = target.replace(os.sep, "/")
        if recursive and (self.cwd / target).is_dir():
            folder = self.repo_path(target)
            return [
                k
                for k, s in pipeline.stages.items()
                if folder == "." or s.dvcfile.startswith(folder + "/")
            ]
        file, name = _parse(target)
        if file is not None:
            return self._in_file(pipeline, file, name)
        try:
            return self._in_file(pipeline, PROJECT_FILE, name or target)
        except TargetNotFoundError as exc:
            found = self._owner(pipeline, target) if outs else None
            if found is not None:
                return [found]
            if outs:
                raise TargetNotFoundError(
                    f"'{target}' does not exist as an output or a stage name in "
                    f"'{PROJECT_FILE}': {exc.msg}"
                ) from None
            raise

    def _in_file(self, pipeline: Pipeline, file: str, name: str | None) -> list[str]:
        dvcfile = self.repo_path(file)
        if not (self.root / dvcfile).is_file():
            raise TargetNotFoundError(f"'{os.path.normpath(self.cwd / file)}' does not exist")
        mine = {s.lock_name: k for k, s in pipeline.stages.items() if s.dvcfile == dvcfile}
        if not mine:
            self._check_collected(dvcfile)
        if name is None:
            return list(mine.values())
        if name in mine:
            return [mine[name]]
        group = [k for plain, k in mine.items() if plain.rpartition("@")[0] == name]
        if not group:
            shown = self.show_path(dvcfile)
            raise TargetNotFoundError(f"Stage '{name}' not found inside '{shown}' file")
        return group

    def _check_collected(self, dvcfile: str) -> None:
        """Refuse a pipeline file the index leaves out, in DVC's words (``dvc/dvcfile.py``).

        Raises:
            TargetNotFoundError: outside the project, Git-ignored, or
                ``.dvcignore``d (also inside a nested repository).
        """
        if dvcfile == ".." or dvcfile.startswith("../"):
            where = os.path.normpath(self.root / dvcfile)
            raise TargetNotFoundError(f"'{where}' is outside of the DVC project {self.root}")
        if dvcfile in find_dvcfiles(self.root):
            return
        if is_ignored(self.root, dvcfile):
            shown = self.show_path(dvcfile)
            raise TargetNotFoundError(f"bad DVC file name '{shown}' is git-ignored.")
        raise TargetNotFoundError(f"'{self.root / dvcfile}' is dvc-ignored")

    def _owner(self, pipeline: Pipeline, target: str) -> str | None:
        """The stage whose out is ``target`` or holds it (DVC's ``find_outs_by_path``)."""
        path = self.repo_path(target)
        for key, stage in pipeline.stages.items():
            for out in stage.outs:
                if path == out.repo_path or path.startswith(out.repo_path + "/"):
                    return key
        return None


def _parse(target: str) -> tuple[str | None, str | None]:
    """``(file or None, name)`` as DVC's ``parse_target`` splits ``target``.

    A ``@`` starts a generated stage's key, which may hold ``:``; the file
    part is everything before the last ``:`` not followed by a path.

    Raises:
        TargetNotFoundError: a ``dvc.lock`` target (DVC suggests the ``dvc.yaml``).
    """
    group, at, key = target.partition("@")
    path, colon, name = group.rpartition(":")
    if not colon or "/" in name:
        path, name = group, ""
    if path and posixpath.basename(path) == LOCK_FILE:
        raise TargetNotFoundError("Did you mean: `{}`?".format(target.replace(".lock", ".yaml", 1)))
    if name and at:
        name += f"@{key}"
    if path and not name:
        if posixpath.basename(path) == PROJECT_FILE and not at:
            return path, None
        return None, target
    if not path:
        return None, name or target
    return path, name
