"""DVC's run-cache: stage lock entries stored by the hash of what went into the run.

Provides:
    runcache_key(entry), runcache_value(entry): DVC's names for an entry
        (``runs/<key[:2]>/<key>/<value>``), identical to DVC 3's.
    entry_matches(entry, current): the full comparison that must confirm a hit,
        because the key ignores any field named ``size``/``nfiles`` (a *param*
        called ``size`` included: treeverse/dvc#10296).
    RunCache: entries under ``<root>/runs`` of a local cache dir or a remote:
        ``lookup``, ``lookup_all``, ``save``, ``entries``, ``transfer``.

An entry is one ``dvc.lock`` stage entry (``cmd``, ``deps``, ``params``,
``outs``; no name) written with :func:`prefect_dvc.yamlio.dump_yaml`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Collection, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from prefect_dvc.errors import PrefectDvcError, StorageError
from prefect_dvc.storage.hashinfo import meta_problem
from prefect_dvc.storage.location import Location, open_location, storage_errors
from prefect_dvc.yamlio import atomic_write, dump_yaml, parse_yaml

logger = logging.getLogger(__name__)

_IGNORED_KEYS = frozenset({"size", "nfiles"})
_ENTRY_KEYS = frozenset({"cmd", "deps", "params", "outs"})


def _drop_sizes(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _drop_sizes(v) for k, v in value.items() if k not in _IGNORED_KEYS}
    if isinstance(value, list | tuple):
        return [_drop_sizes(v) for v in value]
    return value


def _sha256(value: Any) -> str:
    text = json.dumps(_drop_sizes(value), sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _out_path(out: Any) -> Any:
    return out.get("path") if isinstance(out, Mapping) else out


def runcache_key(entry: Mapping[str, Any]) -> str:
    """sha256 of the entry with ``outs`` reduced to their paths (no out hashes needed)."""
    reduced = dict(entry)
    if "outs" in reduced:
        reduced["outs"] = [_out_path(o) for o in reduced["outs"]]
    return _sha256(reduced)


def runcache_value(entry: Mapping[str, Any]) -> str:
    """sha256 of the whole entry, out hashes included."""
    return _sha256(dict(entry))


def _canonical(value: Any) -> str:
    # NOTE: json text tells 1, 1.0 and true apart, which == does not.
    return json.dumps(value, sort_keys=True)


def _dep_hashes(entry: Mapping[str, Any]) -> dict[str, str]:
    return {str(d.get("path")): _canonical(d) for d in entry.get("deps") or []}


def entry_matches(entry: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    """True when ``entry`` was made by exactly the run ``current`` describes.

    Compares ``cmd``, every dep field, every param value and the out paths
    with no filtering, so a change the key cannot see (a param named
    ``size``) is still a miss.
    """
    outs = sorted(str(_out_path(o)) for o in entry.get("outs") or [])
    current_outs = sorted(str(_out_path(o)) for o in current.get("outs") or [])
    return (
        entry.get("cmd") == current.get("cmd")
        and _dep_hashes(entry) == _dep_hashes(current)
        and _canonical(entry.get("params") or {}) == _canonical(current.get("params") or {})
        and outs == current_outs
    )


def check_entry(data: Any) -> str | None:
    """Why ``data`` is not a valid lock stage entry, or None when it is."""
    if not isinstance(data, Mapping):
        return "not a mapping"
    if extra := set(data) - _ENTRY_KEYS:
        return f"unexpected keys {sorted(extra)}"
    cmd = data.get("cmd")
    if not (
        isinstance(cmd, str) or (isinstance(cmd, list) and all(isinstance(c, str) for c in cmd))
    ):
        return "no cmd"
    for section in ("deps", "outs"):
        items = data.get(section, [])
        if not isinstance(items, list) or not all(
            isinstance(i, Mapping) and isinstance(i.get("path"), str) for i in items
        ):
            return f"'{section}' is not a list of entries with a path"
        for item in items:
            if problem := meta_problem(item):
                return problem
    if not data.get("outs"):
        return "no outs"
    if not isinstance(data.get("params", {}), Mapping):
        return "'params' is not a mapping"
    return None


def _mtime(info: Mapping[str, Any]) -> float:
    for field in ("mtime", "LastModified", "last_modified", "created"):
        value = info.get(field)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, int | float):
            return float(value)
    return 0.0


class RunCache:
    """Entries at ``<root>/runs/<key[:2]>/<key>/<value>`` on one filesystem.

    ``root`` is the cache dir (``.dvc/cache``) or a remote's URL, as for
    :class:`~prefect_dvc.storage.objects.ObjectStore`; the two may share a
    :class:`Location`.
    """

    matches = staticmethod(entry_matches)

    def __init__(self, location: Location) -> None:
        self.location = location

    @classmethod
    def from_url(cls, url: str, storage_options: Mapping[str, Any] | None = None) -> RunCache:
        return cls(open_location(url, storage_options))

    def __repr__(self) -> str:
        return f"RunCache({self.location.safe_url!r})"

    def entry_path(self, key: str, value: str) -> str:
        return self.location.join("runs", key[:2], key, value)

    def _display(self, key: str, value: str) -> str:
        return f"{self.location.safe_url.rstrip('/')}/runs/{key[:2]}/{key}/{value}"

    # ------------------------------------------------------------------ reading

    def _load(self, key: str, value: str) -> tuple[bytes, dict[str, Any]] | None:
        """A verified entry (raw bytes and data), or None (with a warning) if unusable.

        Unusable entries are left where they are: on a remote they may belong
        to someone else, and a newer DVC may write fields we do not know.
        """
        path = self.entry_path(key, value)
        with storage_errors(self.location, f"read run-cache entry {key[:8]}/{value[:8]}"):
            try:
                raw = bytes(self.location.fs.cat_file(path))
            except FileNotFoundError:
                return None
        try:
            data = parse_yaml(raw.decode("utf-8", "replace"), self._display(key, value))
        except PrefectDvcError as exc:
            problem: str | None = exc.msg
        else:
            problem = check_entry(data)
            if problem is None and (runcache_key(data), runcache_value(data)) != (key, value):
                problem = "its content does not hash to its name"
        if problem is not None:
            logger.warning(
                "Ignoring corrupt run-cache entry %s: %s", self._display(key, value), problem
            )
            return None
        return raw, dict(data)

    def read_entry(self, key: str, value: str) -> dict[str, Any] | None:
        """The verified entry stored under ``key``/``value``, or ``None``."""
        loaded = self._load(key, value)
        return loaded[1] if loaded else None

    def lookup(self, entry: Mapping[str, Any]) -> dict[str, Any] | None:
        """The newest valid entry saved for the run ``entry`` describes.

        ``entry`` is the stage's lock entry; its outs need only their paths.
        Confirm a hit with :func:`entry_matches` before using it.
        """
        return next(self.lookup_all(entry), None)

    def lookup_all(self, entry: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """Every valid entry saved for the run ``entry`` describes, newest first.

        DVC only tries the newest (``stage/cache.py::_load``); the older ones
        let a run be restored when the newest entry's objects were
        garbage-collected. Entries are read lazily, one per step.
        """
        key = runcache_key(entry)
        folder = self.location.join("runs", key[:2], key)
        fs = self.location.fs
        with storage_errors(self.location, f"list run-cache entries for {key[:8]}"):
            fs.invalidate_cache(folder)
            try:
                listing = fs.ls(folder, detail=True)
            except FileNotFoundError:
                return
        files = [i for i in listing if i.get("type") == "file"]
        for info in sorted(files, key=_mtime, reverse=True):
            value = str(info["name"]).rstrip("/").rsplit("/", 1)[-1]
            if value.startswith("."):
                continue
            found = self._load(key, value)
            if found is not None:
                yield found[1]

    def entries(self) -> list[tuple[str, str]]:
        """Every ``(key, value)`` present, from one recursive listing."""
        base = self.location.join("runs")
        fs = self.location.fs
        with storage_errors(self.location, "list the run-cache"):
            fs.invalidate_cache(base)
            names = list(fs.find(base)) if fs.exists(base) else []
        pairs = set()
        for name in names:
            parts = str(name).rstrip("/").split("/")
            if len(parts) >= 3 and parts[-2][:2] == parts[-3] and not parts[-1].startswith("."):
                pairs.add((parts[-2], parts[-1]))
        return sorted(pairs)

    # ------------------------------------------------------------------ writing

    def save(self, entry: Mapping[str, Any]) -> tuple[str, str]:
        """Store ``entry`` (a complete lock stage entry) and return its (key, value).

        Written whole (temp file + rename on disk, one PUT on object stores);
        an identical entry already present is left alone.

        Raises:
            StorageError: ``entry`` is not a lock stage entry with cmd and outs.
        """
        problem = check_entry(entry)
        if problem is not None:
            raise StorageError(
                f"cannot save a run-cache entry: {problem}",
                hint="Pass the stage's full dvc.lock entry (cmd, deps, params, outs)",
            )
        key, value = runcache_key(entry), runcache_value(entry)
        self._write(key, value, dump_yaml(dict(entry)).encode("utf-8"))
        return key, value

    def _write(self, key: str, value: str, data: bytes) -> None:
        path = self.entry_path(key, value)
        fs = self.location.fs
        with storage_errors(self.location, f"write run-cache entry {key[:8]}/{value[:8]}"):
            if fs.exists(path) and fs.cat_file(path) == data:
                return
            if self.location.is_local:
                self.location.make_dirs(Path(path).parent)
                atomic_write(Path(path), data)
                self.location.settle_file(path)
            else:
                fs.pipe_file(path, data)

    def transfer(
        self,
        dest: RunCache,
        jobs: int | None = None,
        keys: Iterable[str] | None = None,
        pairs: Collection[tuple[str, str]] | None = None,
    ) -> int:
        """Copy the entries ``dest`` lacks (only under ``keys`` / among ``pairs`` if given).

        Both sides are listed once; entries are read, verified and written
        many at a time. Corrupt entries are skipped with a warning.

        Returns:
            How many entries were copied.
        """
        wanted = set(keys) if keys is not None else None
        present = set(dest.entries())
        todo = [
            pair
            for pair in self.entries()
            if pair not in present
            and (wanted is None or pair[0] in wanted)
            and (pairs is None or pair in pairs)
        ]

        def copy(pair: tuple[str, str]) -> bool:
            found = self._load(*pair)
            if found is None:
                return False
            dest._write(*pair, found[0])
            return True

        with ThreadPoolExecutor(max_workers=jobs or 16) as pool:
            return sum(pool.map(copy, todo))
