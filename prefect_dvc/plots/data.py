"""Read plot data files from the workspace or any commit, and parse them into rows.

Provides:
    SourceReader: bytes of a repo-relative file at ``workspace`` or a commit SHA.
        A file tracked by Git is read from the commit; a cached out (not in Git)
        is found through that commit's ``dvc.lock`` and read from the local
        DVC cache, so experiments' plots show even when their data is cached.
    out_locations(root, dvcfile=): repo path -> (lock file, stage, lock path)
        of every out, to find a cached out's md5 in a commit's ``dvc.lock``.
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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect_dvc.config import load_config
from prefect_dvc.errors import CorruptObjectError, PlotError, PrefectDvcError
from prefect_dvc.experiments.collect import WORKSPACE
from prefect_dvc.experiments.gitbatch import GitBatch
from prefect_dvc.lockschema import parse_lock
from prefect_dvc.repo import RepoPaths
from prefect_dvc.storage import layout
from prefect_dvc.storage.hashinfo import HashInfo
from prefect_dvc.translators import load_stages
from prefect_dvc.yamlio import parse_yaml

__all__ = ["OutLocation", "SourceReader", "out_locations", "parse_rows"]

Row = dict[str, Any]


@dataclass(frozen=True)
class OutLocation:
    """Where an out's hash is recorded: ``lock_file`` (repo-relative), stage, lock path."""

    lock_file: str
    stage: str
    path: str


def out_locations(root: Path, dvcfile: str = "dvc.yaml") -> dict[str, OutLocation]:
    """Every out of the workspace pipeline keyed by its repo-relative path."""
    lock_file = posixpath.normpath(posixpath.join(posixpath.dirname(dvcfile), "dvc.lock"))
    return {
        out.repo_path: OutLocation(lock_file, stage.name, out.path)
        for stage in load_stages(root, dvcfile).stages
        for out in stage.outs
    }


class SourceReader:
    """Reads data files of many revisions through one ``git cat-file`` process."""

    def __init__(self, root: Path, batch: GitBatch, outs: Mapping[str, OutLocation]) -> None:
        self.root = root
        self.batch = batch
        self.outs = outs
        config = load_config(root)
        self.cache_dir = config.cache_dir or RepoPaths(root).default_cache_dir
        self._locks: dict[tuple[str, str], Any] = {}

    def read(self, rev: str, path: str) -> bytes | None:
        """The bytes of ``path`` at ``rev`` (a SHA or ``workspace``), or ``None`` if absent."""
        if rev == WORKSPACE:
            file = self.root / path
            return file.read_bytes() if file.is_file() else None
        blob = self.batch.read(f"{rev}:{path}")
        if blob is not None and blob.kind == "blob":
            return blob.content
        md5 = self._locked_md5(rev, path)
        if md5 is None:
            return None
        # NOTE: `md5` is an object id: a DVC 2 out's lives in DVC 2's layout (storage/layout.py).
        cached = self.cache_dir.joinpath(*layout.oid_parts(md5))
        if not cached.is_file():
            return None
        data = cached.read_bytes()
        # NOTE: never hand out unchecked cache bytes, plot data included (issue #11 §2).
        actual = layout.bytes_md5(md5, data)
        if actual != layout.expected(md5):
            raise CorruptObjectError(
                f"object is corrupt: its content hashes to {actual}, not {md5}",
                path=str(cached),
                hint="Run 'prefect-dvc cache verify', then pull the object or re-run its stage",
            )
        return data

    def _locked_md5(self, rev: str, path: str) -> str | None:
        where = self.outs.get(path)
        if where is None:
            return None
        key = (rev, where.lock_file)
        if key not in self._locks:
            blob = self.batch.read(f"{rev}:{where.lock_file}")
            try:
                self._locks[key] = (
                    {"stages": parse_lock(blob.content.decode(), where.lock_file)} if blob else {}
                )
            except PrefectDvcError:
                self._locks[key] = {}
        stage = ((self._locks[key] or {}).get("stages") or {}).get(where.stage) or {}
        for out in stage.get("outs") or []:
            if isinstance(out, Mapping) and out.get("path") == where.path:
                info = HashInfo.from_lock(out) if isinstance(out.get("md5"), str) else None
                return info.oid if info is not None and not info.is_dir else None
        return None


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
