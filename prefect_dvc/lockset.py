"""Every ``dvc.lock`` of a pipeline behind one ``read``/``update`` interface.

Provides:
    LockSet: stage key -> entry over the ``dvc.lock`` beside each ``dvc.yaml``
        the pipeline's stages come from, routing each update to its file.

Each ``dvc.yaml`` has its own ``dvc.lock`` beside it, whose entries are
named as in that file (``train``); the index keys the same stage
``sub/dvc.yaml:train`` (DVC's addressing from the root, ``StageSpec.lock_name``
gives the plain name back). Each file keeps :class:`~prefect_dvc.lockfile.LockFile`'s
guarantees: entries in DVC's serial order, atomic rewrites, one ``flock``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from prefect_dvc.lockfile import Entry, LockFile
from prefect_dvc.repo import RepoPaths
from prefect_dvc.translators.index import PROJECT_FILE, stage_key
from prefect_dvc.translators.pipeline import Pipeline


class LockSet:
    """The lock files of ``pipeline``, read and updated by stage key.

    Args:
        paths: the project's paths.
        pipeline: the stages (keyed as in the index, or plainly for one file).
        order: the run's plan order of stage keys (new entries land in it).
    """

    def __init__(self, paths: RepoPaths, pipeline: Pipeline, order: Sequence[str]) -> None:
        self._where = {
            key: (stage.dvcfile, stage.lock_name) for key, stage in pipeline.stages.items()
        }
        files = list(dict.fromkeys(dvcfile for dvcfile, _ in self._where.values()))
        if not files:
            files = [PROJECT_FILE]
        self._files: dict[str, LockFile] = {}
        self._keyed: dict[str, bool] = {}
        for dvcfile in files:
            own = [self._where[k][1] for k in order if self._where.get(k, ("",))[0] == dvcfile]
            self._files[dvcfile] = LockFile(paths.lock_path(dvcfile), own, paths.own_tmp)
            # NOTE: a pipeline loaded from one file alone keeps plain names for it
            self._keyed[dvcfile] = any(
                key != name for key, (f, name) in self._where.items() if f == dvcfile
            )

    @property
    def path(self) -> Path:
        """The first lock file (the only one for a one-file pipeline)."""
        return next(iter(self._files.values())).path

    def read(self) -> dict[str, Entry]:
        """Stage key -> entry over every lock file; do not modify the entries."""
        result: dict[str, Entry] = {}
        for dvcfile, lock in self._files.items():
            for name, entry in lock.read().items():
                key = stage_key(dvcfile, name) if self._keyed[dvcfile] else name
                result[key] = entry
        return result

    def update(self, key: str, entry: Entry) -> None:
        """Set the entry of stage ``key`` in its own ``dvc.lock``, rewritten atomically."""
        dvcfile, name = self._where[key]
        self._files[dvcfile].update(name, entry)
