"""Read plot data files from the workspace or any commit, and parse them into rows.

Provides:
    SourceReader: bytes of a repo-relative file at ``workspace`` or a commit SHA,
        and the files of a folder there. A file tracked by Git is read from the
        commit; a cached out, or a file inside a cached directory out (not in
        Git, or not on disk) is found through that revision's ``dvc.lock`` and
        read from the DVC cache (``experiments/revfiles.py``), so experiments'
        plots show even when their data is cached.
    parse_rows(path, raw, header=True): JSON, YAML, CSV or TSV -> list of row dicts.

Rows follow DVC's reading: CSV/TSV values stay strings (Vega-Lite parses
them), a JSON/YAML file may be a list of objects or an object holding such
lists (lists of the same length are merged row by row), and ``header: false``
names CSV columns ``0, 1, ...``.
"""

from __future__ import annotations

import csv
import io
import json
import posixpath
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from prefect_dvc.errors import PlotError, PrefectDvcError
from prefect_dvc.experiments.collect import WORKSPACE
from prefect_dvc.experiments.gitbatch import GitBatch
from prefect_dvc.experiments.revfiles import ObjectReader, files_under, locked_outs, out_object
from prefect_dvc.yamlio import parse_yaml

__all__ = ["SourceReader", "parse_rows"]

Row = dict[str, Any]


class SourceReader:
    """Reads data files of many revisions through one ``git cat-file`` process.

    A file in no Git commit (a cached out, or a file inside a cached
    directory out such as DVC's ``eval/plots/``) is found through that
    revision's own ``dvc.yaml``/``dvc.lock`` and read from the cache, or
    fetched from the default remote (``experiments/revfiles.py``). Close it
    (or use it as a context manager) to release the state DB a fetch opens.
    """

    def __init__(
        self, root: Path, batch: GitBatch, pipelines: Sequence[str] = ("dvc.yaml",)
    ) -> None:
        self.root = root
        self.batch = batch
        self.pipelines = tuple(pipelines)
        self.objects = ObjectReader(root, strict=True)
        self._outs: dict[str, dict[str, str]] = {}

    def __enter__(self) -> SourceReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.objects.close()

    def read(self, rev: str, path: str) -> bytes | None:
        """The bytes of ``path`` at ``rev`` (a SHA or ``workspace``), or ``None`` if absent.

        Raises:
            CorruptObjectError: the cached object's bytes do not hash to its name.
        """
        if rev == WORKSPACE:
            file = self.root / path
            if file.is_file():
                return file.read_bytes()
        else:
            blob = self.batch.read(f"{rev}:./{path}")
            if blob is not None and blob.kind == "blob":
                return blob.content
        md5 = out_object(self._rev_outs(rev), path, self.objects)
        return self.objects.read(md5) if md5 is not None else None

    def list_dir(self, rev: str, path: str) -> list[str]:
        """Repo paths of the files under folder ``path`` at ``rev``, sorted; empty if none.

        The folder may be in Git, in the workspace, or a cached out (its manifest).
        """
        found: set[str] = set()
        if rev == WORKSPACE:
            folder = self.root / path
            if folder.is_dir() and not folder.is_symlink():
                found.update(
                    posixpath.join(path, p.relative_to(folder).as_posix())
                    for p in folder.rglob("*")
                    if p.is_file()
                )
        else:
            found.update(self._git_files(rev, posixpath.normpath(path)))
        found.update(files_under(self._rev_outs(rev), path, self.objects) or [])
        return sorted(found)

    def _git_files(self, rev: str, path: str) -> list[str]:
        blob = self.batch.read(f"{rev}:./{path}")
        if blob is None or blob.kind != "tree":
            return []
        files = []
        for mode, name in _tree_entries(blob.content):
            child = posixpath.join(path, name)
            if mode.startswith("4"):
                files.extend(self._git_files(rev, child))
            elif not mode.startswith("16"):  # NOTE: 160000 is a submodule, not a file
                files.append(child)
        return files

    def _rev_outs(self, rev: str) -> dict[str, str]:
        """Cached outs of every pipeline file (``self.pipelines``) at ``rev``."""
        if rev not in self._outs:
            found: dict[str, str] = {}
            for dvcfile in self.pipelines:
                base = posixpath.dirname(posixpath.normpath(dvcfile))
                lock = posixpath.join(base, "dvc.lock")
                if rev == WORKSPACE:
                    files = (self.root / dvcfile, self.root / lock)
                    contents = [p.read_bytes() if p.is_file() else None for p in files]
                else:
                    blobs = self.batch.read_many([f"{rev}:./{dvcfile}", f"{rev}:./{lock}"])
                    contents = [b.content if b and b.kind == "blob" else None for b in blobs]
                found.update(locked_outs(contents[0], contents[1], base))
            self._outs[rev] = found
        return self._outs[rev]


def _tree_entries(data: bytes) -> Iterator[tuple[str, str]]:
    """``(mode, name)`` of each entry of a raw Git tree object (``<mode> <name>\\0<sha>``)."""
    pos = 0
    while pos < len(data):
        space = data.index(b" ", pos)
        nul = data.index(b"\0", space)
        yield data[pos:space].decode(), data[space + 1 : nul].decode("utf-8", "surrogateescape")
        pos = nul + 21


def _lists(blob: Any) -> Iterator[list[Any]]:
    if isinstance(blob, list):
        yield blob
    elif isinstance(blob, Mapping):
        for value in blob.values():
            if isinstance(value, (list, Mapping)):
                yield from _lists(value)


def _is_rows(items: list[Any]) -> bool:
    # NOTE: as DVC: a list counts as rows only if every item is an object with the same keys.
    if not items or not all(isinstance(item, Mapping) for item in items):
        return False
    keys = set(items[0])
    return all(set(item) == keys for item in items)


def _rows_of(content: Any) -> list[Row]:
    rows: list[Row] = []
    for items in _lists(content):
        if _is_rows(items):
            for index, item in enumerate(items):
                if len(rows) <= index:
                    rows.append({})
                rows[index].update(item)
    return rows


def _delimited(text: str, delimiter: str, header: bool) -> list[Row]:
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    lines = [line for line in reader if line]
    if not lines:
        return []
    names = lines[0] if header else [str(i) for i in range(len(lines[0]))]
    body = lines[1:] if header else lines
    return [dict(zip(names, line)) for line in body]


def parse_rows(path: str, raw: bytes, *, header: bool = True) -> list[Row]:
    """Parse one data file by its suffix.

    Raises:
        PlotError: an unsupported suffix or a file that does not parse.
    """
    suffix = posixpath.splitext(path)[1].lower()
    try:
        text = raw.decode("utf-8-sig")
        if suffix == ".json":
            return _rows_of(json.loads(text))
        if suffix in (".yaml", ".yml"):
            return _rows_of(parse_yaml(text, path))
        if suffix in (".csv", ".tsv"):
            return _delimited(text, "\t" if suffix == ".tsv" else ",", header)
    except (ValueError, csv.Error, PrefectDvcError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise PlotError(
            f"cannot parse plot data: {detail}",
            path=path,
            hint="Fix the file so it is valid for its suffix",
        ) from None
    raise PlotError(
        f"unsupported plot data format '{suffix or path}'",
        path=path,
        hint="Use .json, .yaml, .csv or .tsv for data, or .png, .jpg, .svg for images",
    )
