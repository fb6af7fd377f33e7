"""``dvc.lock`` (schema 2.0): build entries, read the file, update it safely.

Provides:
    build_entry(stage, deps, params, outs): one stage's lock entry with DVC's
        section and key order (``cmd, deps, params, outs``, empty ones left out).
    read_lock(path): stage name -> entry.
    LockFile: updates one stage at a time from many threads and processes,
        writing the whole file atomically after each finished stage.

The entry dict is also what the run-cache hashes, so it must be exactly
DVC's: deps and outs sorted by path, ``path, hash, md5, size, nfiles``.
"""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prefect_dvc.errors import DvcYamlError
from prefect_dvc.lockschema import parse_lock
from prefect_dvc.translators.pipeline import StageSpec
from prefect_dvc.yamlio import atomic_write, dump_yaml

LOCK_SCHEMA = "2.0"

Entry = dict[str, Any]


def build_entry(
    stage: StageSpec,
    deps: Iterable[Mapping[str, Any]],
    params: Mapping[str, Mapping[str, Any]],
    outs: Iterable[Mapping[str, Any]],
) -> Entry:
    """The lock entry of ``stage``; ``deps``/``outs`` are ``{path, hash, md5, size[, nfiles]}``.

    ``outs`` may also be bare ``{path}`` dicts: that is the shape the
    run-cache key is computed on.
    """
    entry: Entry = {"cmd": stage.lock_cmd}
    dep_list = sorted((dict(d) for d in deps), key=lambda d: d["path"])
    if dep_list:
        entry["deps"] = dep_list
    if params:
        entry["params"] = {name: dict(values) for name, values in params.items()}
    out_list = sorted((dict(o) for o in outs), key=lambda o: o["path"])
    if out_list:
        entry["outs"] = out_list
    return entry


def read_lock(path: Path, display: str | None = None) -> dict[str, Entry]:
    """Stage name -> entry of the lock file at ``path`` (empty when there is none).

    ``display`` names the file in errors (default: its name).

    Raises:
        DvcYamlError: the file exists but cannot be read, is not YAML
            (YamlSyntaxError) or not a lock file DVC 3 accepts (SchemaError),
            naming the line and stage (:func:`prefect_dvc.lockschema.parse_lock`).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise DvcYamlError(
            f"cannot read the lock file: {exc}",
            path=display or path.name,
            hint="Check the file, or restore it from Git",
        ) from None
    return parse_lock(text, display or path.name)


def format_lock(stages: Mapping[str, Entry]) -> str:
    return dump_yaml({"schema": LOCK_SCHEMA, "stages": {k: dict(v) for k, v in stages.items()}})


def _stage_block(name: str, entry: Entry) -> str:
    """One stage's lines of ``dvc.lock``; the file is the header plus these blocks.

    Block-style YAML emits each key independently, so concatenating the
    blocks gives the same bytes as dumping the whole file at once (checked
    against the lock DVC wrote for the example project).
    """
    return dump_yaml({"stages": {name: dict(entry)}}).split("\n", 1)[1]


_HEADER = f"schema: '{LOCK_SCHEMA}'\nstages:\n"


class LockFile:
    """One ``dvc.lock``, updated stage by stage while a pipeline runs.

    The bytes are those of DVC's serial run whatever finishes first: DVC
    (``Lockfile.dump_stages`` in ``dvc/dvcfile.py``) updates an existing
    entry in place and appends a new one, running stages in plan order, so
    entries already in the file keep their position (also those of stages
    gone from ``dvc.yaml``) and the entries this run adds follow them in
    ``order`` (the plan, :meth:`Pipeline.order`). Each update re-reads the
    file under an ``flock`` so that two processes updating different stages
    both win.

    Parsing and dumping YAML 1.2 in pure Python costs ~1 ms per stage entry,
    so the parsed entries and each stage's text are kept in memory and
    reused while the file is the one we last saw (same inode, mtime and
    size; every write replaces the inode). Without that, a 200-stage
    pipeline spent 0.25 s per stage re-reading the whole lock file.
    """

    def __init__(self, path: Path, order: Sequence[str], lock_dir: Path) -> None:
        self.path = path
        self._order = {name: i for i, name in enumerate(order)}
        self._thread_lock = threading.RLock()
        self._flock_path = lock_dir / "dvc.lock.lock"
        self._seen: tuple[int, int, int] | None = None
        self._entries: dict[str, Entry] = {}
        self._blocks: dict[str, str] = {}
        self._added: set[str] = set()

    def _signature(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _load(self) -> dict[str, Entry]:
        signature = self._signature()
        if signature is None:
            self._seen, self._entries, self._blocks = None, {}, {}
        elif signature != self._seen:
            self._entries, self._blocks = read_lock(self.path), {}
            self._seen = signature
        return self._entries

    def read(self) -> dict[str, Entry]:
        """Stage name -> entry; do not modify the entries."""
        with self._thread_lock:
            return dict(self._load())

    def update(self, name: str, entry: Entry) -> None:
        """Set the entry of stage ``name`` and rewrite the file atomically."""
        with self._locked():
            entries = dict(self._load())
            if name not in entries:
                self._added.add(name)
            entries[name] = entry
            ordered = self._ordered(entries)
            self._entries = {n: entries[n] for n in ordered}
            self._blocks[name] = _stage_block(name, entry)
            for other in ordered:
                if other not in self._blocks:
                    self._blocks[other] = _stage_block(other, self._entries[other])
            atomic_write(self.path, _HEADER + "".join(self._blocks[n] for n in ordered))
            self._seen = self._signature()

    def _ordered(self, entries: Mapping[str, Entry]) -> list[str]:
        """Entries found in the file where they are, then this run's new ones in plan order."""
        kept = [n for n in entries if n not in self._added]
        new = [n for n in entries if n in self._added]
        last = len(self._order)
        return kept + sorted(new, key=lambda n: self._order.get(n, last))

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self._flock_path.parent.mkdir(parents=True, exist_ok=True)
        with self._thread_lock, open(self._flock_path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
