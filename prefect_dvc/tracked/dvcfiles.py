"""Reading and rewriting the ``.dvc`` files a command touches, and what Git should stage.

Provides:
    tracked_entry(dvcfile, repo_path, info, previous): the ``outs`` entry DVC
        writes for a hashed path, keeping the old entry's flags.
    DvcFileWriter: reads an entry, writes a ``.dvc`` file keeping its comments
        and other keys (DVC's ``to_single_stage_file`` + ``apply_diff``), and
        lists the files written for the ``git add`` hint.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prefect_dvc.dvcfile import format_dvcfile, load_dvcfile, out_entry
from prefect_dvc.safety import check_write_target
from prefect_dvc.storage.hashinfo import HashInfo
from prefect_dvc.yamlio import atomic_write

_META_KEYS = ("md5", "size", "nfiles", "isexec", "hash", "path")


def tracked_entry(
    dvcfile: str, repo_path: str, info: HashInfo | None, previous: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The ``outs`` entry for ``repo_path`` hashed as ``info`` (``None``: no hash yet).

    The path is the old entry's spelling when there is one, else relative to
    the ``.dvc`` file's folder. Keys beside the hash (``desc``, ``cache``,
    ``remote``, ``push``...) are kept, in ``Output.dumpd`` order.
    """
    if previous is not None and isinstance(previous.get("path"), str):
        path = str(previous["path"])
    else:
        path = posixpath.relpath(repo_path, posixpath.dirname(dvcfile) or ".")
    flags = {k: v for k, v in (previous or {}).items() if k not in _META_KEYS}
    if info is None:
        return out_entry(path, None, None, flags=flags)
    return out_entry(
        path,
        info.md5,
        info.size,
        nfiles=info.nfiles if info.is_dir else None,
        isexec=info.isexec,
        flags=flags,
    )


class DvcFileWriter:
    """Writes ``.dvc`` files for one command and remembers what changed for Git.

    Args:
        root: the repository root.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._touched: list[str] = []

    def read_entry(self, dvcfile: str, repo_path: str) -> dict[str, Any] | None:
        """The raw ``outs`` entry of ``dvcfile`` for ``repo_path``, or ``None``.

        Raises:
            SchemaError, YamlSyntaxError: the existing file is not a valid ``.dvc`` file.
        """
        if not (self.root / dvcfile).is_file():
            return None
        for out in load_dvcfile(self.root, dvcfile).outs:
            if out.repo_path == repo_path:
                return dict(out.raw)
        return None

    def write(self, dvcfile: str, entry: Mapping[str, Any]) -> None:
        """Put ``entry`` into ``dvcfile`` (replacing the entry with its path), keeping the rest."""
        path = check_write_target(self.root, dvcfile)
        previous = path.read_text(encoding="utf-8") if path.is_file() else None
        data: dict[str, Any] = {}
        if previous is not None:
            loaded = load_dvcfile(self.root, dvcfile)
            data = dict(loaded.data)
            outs = [dict(o.raw) for o in loaded.outs]
            index = next((i for i, o in enumerate(loaded.outs) if _same(o.raw, entry)), None)
            if index is None:
                outs.append(dict(entry))
            else:
                outs[index] = dict(entry)
            data["outs"] = outs
        else:
            data = {"outs": [dict(entry)]}
        atomic_write(path, format_dvcfile(data, previous))
        self.touched(dvcfile)

    def touched(self, repo_path: str) -> None:
        """Note a file Git should stage (a ``.dvc`` file or a ``.gitignore``)."""
        if repo_path not in self._touched:
            self._touched.append(repo_path)

    def changed(self) -> tuple[str, ...]:
        """The files written, in order, repo-relative."""
        return tuple(self._touched)


def _same(raw: Mapping[str, Any], entry: Mapping[str, Any]) -> bool:
    return os.path.normpath(str(raw.get("path"))) == os.path.normpath(str(entry.get("path")))
