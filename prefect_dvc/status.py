"""Is a stage up to date with ``dvc.lock``, and if not, why?

Provides:
    Change: one reason a stage must run (``dep 'data.csv' modified``...).
    StageStatus: the reasons plus the current dep and param values, which the
        executor reuses to build the lock entry without hashing twice.
    compute_status(...): the comparison itself, by DVC's rules
        (``formats.md`` section 1.2: cmd, deps, params, outs, always_changed,
        callback stages; frozen stages only check their outs).
    with_cache_status(status, stage, lock_entry, cached): outs whose object
        is not in the cache shown as DVC shows them (``not in cache``).
    status_json(statuses, stages): DVC's ``status --json`` shape.

No Prefect here: ``status`` and a no-op ``repro`` answer from this module
alone.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from prefect_dvc.errors import ParamsError
from prefect_dvc.external import dep_value, hash_url, is_external, is_url
from prefect_dvc.storage.hashinfo import HashInfo, Tree
from prefect_dvc.storage.hashing import Hasher
from prefect_dvc.translators.params import StageParams, read_stage_params
from prefect_dvc.translators.pipeline import StageSpec


@dataclass(frozen=True)
class Change:
    """One reason to run: ``kind`` is cmd, dep, param, out, always, callback or new."""

    kind: str
    path: str = ""
    what: str = ""

    def __str__(self) -> str:
        if self.kind in ("dep", "out"):
            return f"{self.kind} '{self.path}' {self.what}"
        if self.kind == "param":
            return f"param {self.path} {self.what}"
        if self.kind == "params":
            return f"params file '{self.path}' {self.what}"
        return {
            "cmd": "command changed",
            "always": "always_changed",
            "callback": "callback stage (no deps and no outs)",
            "new": "never run (not in dvc.lock)",
            "forced": "forced",
        }.get(self.kind, self.kind)


@dataclass(frozen=True)
class StageStatus:
    """A stage compared with its lock entry.

    ``params_error`` is the error running the stage must fail with (a
    params file or key is missing), as DVC's ``MissingParamsError``;
    ``status`` only reports the change.
    """

    name: str
    changes: tuple[Change, ...]
    deps: tuple[dict[str, Any], ...] = ()
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    missing_deps: tuple[str, ...] = ()
    outs: Mapping[str, HashInfo | None] = field(default_factory=dict)
    params_error: ParamsError | None = None

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def hash_deps(
    root: Path,
    stage: StageSpec,
    hasher: Hasher,
    locked: Iterable[Mapping[str, Any]] = (),
) -> tuple[list[dict[str, Any]], list[str]]:
    """Lock entries of the stage's present deps, and the deps that are missing.

    External deps (``external.py``) are included: a path outside the
    repository is hashed like any file or directory, a URL from its
    filesystem's etag/checksum, as DVC 3 records them. A dep that ``locked``
    (its lock entry's deps) records with DVC 2's hash keeps that form while
    its ``md5-dos2unix`` still matches, as DVC 3's ``update_legacy_hash_name``.
    """
    entries: list[dict[str, Any]] = []
    missing: list[str] = []
    pairs = list(zip(stage.deps, stage.dep_repo_paths))
    for dep, url in [(d, p) for d, p in pairs if is_url(p)]:
        entry = hash_url(url, dep)
        if entry is None:
            missing.append(dep)
        else:
            entries.append(entry)
    paths = [(dep, root / p) for dep, p in pairs if not is_url(p)]
    present = [(dep, path) for dep, path in paths if path.exists()]
    missing.extend(dep for dep, path in paths if not path.exists())
    old = legacy_hashes(locked)
    infos = hash_keeping_legacy(
        hasher, [path for _, path in present], [old.get(d) for d, _ in present]
    )
    for (dep, _), (info, _tree) in zip(present, infos):
        entries.append(info.to_lock(dep))
    return entries, missing


def legacy_hashes(locked: Iterable[Mapping[str, Any]]) -> dict[str, HashInfo]:
    """Path -> locked hash of the items DVC 2 wrote (an ``md5`` without ``hash: md5``)."""
    infos = {str(item.get("path")): HashInfo.from_lock(item) for item in locked}
    return {path: info for path, info in infos.items() if info is not None and info.legacy}


def hash_keeping_legacy(
    hasher: Hasher, paths: Sequence[Path], legacy: Sequence[HashInfo | None]
) -> list[tuple[HashInfo, Tree | None]]:
    """Hash ``paths``; where ``legacy[i]`` is a DVC 2 hash still matching, keep that form.

    DVC 3.67.1 computes ``md5-dos2unix`` for an output its lock records
    that way and switches it to ``md5`` only when it changed
    (``Output.update_legacy_hash_name``). So a legacy path is hashed the
    legacy way first; only the ones whose value differs are hashed again as md5.
    Returns ``(info, tree)`` per path, as :meth:`Hasher.hash_many`.
    """
    results: list[tuple[HashInfo, Tree | None] | None] = [None] * len(paths)
    old = [i for i, info in enumerate(legacy) if info is not None]
    for i, got in zip(old, hasher.hash_many([paths[i] for i in old], legacy=True)):
        if got[0].md5 == legacy[i].md5:  # type: ignore[union-attr]
            results[i] = got
    todo = [i for i, got in enumerate(results) if got is None]
    for i, got in zip(todo, hasher.hash_many([paths[i] for i in todo])):
        results[i] = got
    return [got for got in results if got is not None]


def hash_outs_keeping_legacy(
    root: Path, stage: StageSpec, hasher: Hasher, lock_entry: Mapping[str, Any] | None
) -> list[tuple[HashInfo, Tree | None]]:
    """``(info, tree)`` of every out of ``stage`` (all must exist), in order.

    An out ``lock_entry`` records with DVC 2's hash keeps it while unchanged
    (:func:`hash_keeping_legacy`), which is what DVC 3 writes to ``dvc.lock``.
    """
    old = legacy_hashes((lock_entry or {}).get("outs") or [])
    paths = [root / o.repo_path for o in stage.outs]
    return hash_keeping_legacy(hasher, paths, [old.get(o.path) for o in stage.outs])


def hash_outs(
    root: Path, stage: StageSpec, hasher: Hasher, lock_entry: Mapping[str, Any] | None = None
) -> dict[str, HashInfo | None]:
    """Out path (as written) -> its current hash, or ``None`` when it is missing.

    An out ``lock_entry`` records with DVC 2's hash is hashed as
    :func:`hash_keeping_legacy` does.
    """
    result: dict[str, HashInfo | None] = {}
    present = [o for o in stage.outs if (root / o.repo_path).exists()]
    old = legacy_hashes((lock_entry or {}).get("outs") or [])
    infos = hash_keeping_legacy(
        hasher, [root / o.repo_path for o in present], [old.get(o.path) for o in present]
    )
    for out, (info, _tree) in zip(present, infos):
        result[out.path] = info
    for out in stage.outs:
        result.setdefault(out.path, None)
    return result


def compute_status(
    root: Path, stage: StageSpec, lock_entry: Mapping[str, Any] | None, hasher: Hasher
) -> StageStatus:
    """Compare ``stage`` as it is now with ``lock_entry`` (``None``: never run).

    As DVC (``Stage.status``): a frozen stage shows only its outs, command and
    ``always_changed``; a never-run stage lists its deps, params and outs too;
    a missing params file or key is a change (the stage is "changed"), and
    only running the stage fails on it (:attr:`StageStatus.params_error`).

    Raises:
        ParamsError, YamlSyntaxError: a params file that cannot be parsed.
    """
    outs = hash_outs(root, stage, hasher, lock_entry)
    changes: list[Change] = []
    if lock_entry is None and not stage.frozen:
        changes.append(Change("new"))
    if stage.always_changed:
        changes.append(Change("always"))
    if stage.is_callback and stage.cmd:
        changes.append(Change("callback"))
    if lock_entry is not None and lock_entry.get("cmd") != stage.lock_cmd:
        changes.append(Change("cmd"))
    if stage.frozen:
        changes.extend(_out_changes(outs, lock_entry))
        return StageStatus(
            stage.name, tuple(_show_external_as_dvc(root, stage, changes)), outs=outs
        )
    locked = lock_entry or {}
    deps, missing = hash_deps(root, stage, hasher, locked.get("deps") or [])
    params = read_stage_params(root, stage)
    changes.extend(_dep_changes(deps, missing, locked.get("deps") or []))
    changes.extend(_param_changes(stage, params, lock_entry))
    changes.extend(_out_changes(outs, lock_entry))
    return StageStatus(
        stage.name,
        tuple(_show_external_as_dvc(root, stage, changes)),
        tuple(deps),
        params.values,
        tuple(missing),
        outs,
        params_error=params.error(stage),
    )


def _show_external_as_dvc(root: Path, stage: StageSpec, changes: list[Change]) -> list[Change]:
    """DVC names a local dep or out outside the repository by its absolute path in status."""
    written = [*zip(stage.deps, stage.dep_repo_paths), *((o.path, o.repo_path) for o in stage.outs)]
    shown = {
        path: os.path.normpath(root / location)
        for path, location in written
        if is_external(location) and not is_url(location)
    }
    return [
        Change(c.kind, shown[c.path], c.what) if c.kind in ("dep", "out") and c.path in shown else c
        for c in changes
    ]


def _dep_changes(
    deps: Iterable[Mapping[str, Any]], missing: Iterable[str], locked: Iterable[Mapping[str, Any]]
) -> list[Change]:
    # NOTE: a DVC 2 item (md5 without `hash`) compares as (md5, value) too:
    # hash_deps kept its legacy form only where its md5-dos2unix still matches.
    old = {d["path"]: _locked_value(d) for d in locked}
    changes = [Change("dep", path, "deleted") for path in missing]
    for dep in deps:
        path = dep["path"]
        if path not in old:
            changes.append(Change("dep", path, "new"))
        elif old[path] != _locked_value(dep):
            changes.append(Change("dep", path, "modified"))
    current = {d["path"] for d in deps} | set(missing)
    changes.extend(Change("dep", path, "removed") for path in old.keys() - current)
    return changes


def _locked_value(item: Mapping[str, Any]) -> tuple[str, Any] | tuple[str, Any, bool] | None:
    """A locked dep's identity; a DVC 2 md5 differs from any md5 of the same digits."""
    value = dep_value(item)
    if value is not None and value[0] == "md5" and item.get("hash") is None:
        return (*value, True)
    return value


def _param_changes(
    stage: StageSpec, params: StageParams, lock_entry: Mapping[str, Any] | None
) -> list[Change]:
    """Per params file, DVC's ``ParamsDependency.workspace_status``.

    A missing file is ``deleted``; a file the lock entry has no values for is
    ``new``; otherwise each tracked key (or, for a whole file, its top-level
    keys then the locked ones) is ``deleted``, ``new`` or ``modified``,
    compared as whole values (``train`` modified, not ``train.lr``).
    """
    locked_params = (lock_entry or {}).get("params") or {}
    changes: list[Change] = []
    for dep in stage.params:
        if dep.path in params.missing_files:
            changes.append(Change("params", dep.path, "deleted"))
            continue
        old = locked_params.get(dep.path) if isinstance(locked_params, Mapping) else None
        if not isinstance(old, Mapping):
            changes.append(Change("params", dep.path, "new"))
            continue
        now = params.values.get(dep.path, {})
        keys = dep.keys if dep.keys is not None else (*now, *(k for k in old if k not in now))
        for key in dict.fromkeys(keys):
            if key not in now:
                what = "deleted"
            elif key not in old:
                what = "new"
            elif now[key] != old[key]:
                what = "modified"
            else:
                continue
            changes.append(Change("param", f"{dep.path}:{key}", what))
    return changes


def _out_changes(
    outs: Mapping[str, HashInfo | None], lock_entry: Mapping[str, Any] | None
) -> list[Change]:
    locked = {o["path"]: HashInfo.from_lock(o) for o in (lock_entry or {}).get("outs") or []}
    changes: list[Change] = []
    for path, info in outs.items():
        if info is None:
            changes.append(Change("out", path, "deleted"))
        elif path not in locked:
            changes.append(Change("out", path, "not in dvc.lock"))
        elif locked[path] is None or locked[path].oid != info.oid:  # type: ignore[union-attr]
            changes.append(Change("out", path, "modified"))
    return changes


def with_cache_status(
    status: StageStatus,
    stage: StageSpec,
    lock_entry: Mapping[str, Any] | None,
    cached: Callable[[HashInfo], bool],
) -> StageStatus:
    """``status`` where a cached out whose locked object is not in the cache is
    ``not in cache`` (DVC's ``Output.status`` checks that before the workspace).

    ``cached(info)`` says whether the object (a ``.dir`` with all its files)
    is in the local cache. Only ``status`` reports this: a run restores or
    recomputes such outs through the run-cache or ``--pull`` as before.
    """
    locked = {o["path"]: HashInfo.from_lock(o) for o in (lock_entry or {}).get("outs") or []}
    missing = {
        out.path
        for out in stage.outs
        if out.cache and locked.get(out.path) is not None and not cached(locked[out.path])  # type: ignore[arg-type]
    }
    if not missing:
        return status
    changes = [c for c in status.changes if not (c.kind == "out" and c.path in missing)]
    changes.extend(Change("out", path, "not in cache") for path in sorted(missing))
    return replace(status, changes=tuple(changes))


def _json_paths(stage: StageSpec | None) -> tuple[dict[str, str], dict[str, str]]:
    """Dep and out paths as written -> as DVC prints them (from the repository root)."""
    if stage is None:
        return {}, {}
    deps = dict(zip(stage.deps, stage.dep_repo_paths))
    deps.update({p.path: p.repo_path for p in stage.params})
    return deps, {o.path: o.repo_path for o in stage.outs}


def _stage_json(st: StageStatus, stage: StageSpec | None) -> list[Any]:
    dep_paths, out_paths = _json_paths(stage)
    deps: dict[str, Any] = {}
    outs: dict[str, str] = {}
    tail: list[str] = []
    for change in st.changes:
        if change.kind == "dep" and change.what != "removed":
            # NOTE: DVC says "modified" for a dep it has no lock hash for, and
            # does not see a dep that is only in dvc.lock any more.
            what = "deleted" if change.what == "deleted" else "modified"
            deps[dep_paths.get(change.path, change.path)] = what
        elif change.kind == "params":
            deps[dep_paths.get(change.path, change.path)] = change.what
        elif change.kind == "param":
            file, _, key = change.path.rpartition(":")
            deps.setdefault(dep_paths.get(file, file), {})[key] = change.what
        elif change.kind == "out":
            what = change.what if change.what in ("deleted", "not in cache") else "modified"
            outs[out_paths.get(change.path, change.path)] = what
        elif change.kind in ("always", "callback") and "always changed" not in tail:
            tail.append("always changed")
        elif change.kind == "cmd":
            tail.append("changed command")
    if stage is not None:
        order = [*stage.dep_repo_paths, *(p.repo_path for p in stage.params)]
        deps = {path: deps[path] for path in sorted(deps, key=_index_in(order))}
        outs = {path: outs[path] for path in sorted(outs, key=_index_in(list(out_paths.values())))}
    items: list[Any] = [{"changed deps": deps}] if deps else []
    if outs:
        items.append({"changed outs": outs})
    # NOTE: DVC appends "always changed" before "changed command" (Stage.status).
    return items + sorted(tail, key=lambda t: t != "always changed")


def _index_in(order: list[str]) -> Any:
    return lambda path: order.index(path) if path in order else len(order)


def status_json(
    statuses: Iterable[StageStatus], stages: Mapping[str, StageSpec] | None = None
) -> dict[str, list[Any]]:
    """DVC's ``status --json``: stage -> ``[{"changed deps": {...}}, {"changed outs":
    {...}}, "always changed", "changed command"]``, unchanged stages left out.

    ``changed deps`` maps a dep path to ``modified``/``deleted`` and a params
    file to ``new``/``deleted`` or ``{key: new|deleted|modified}``; ``changed
    outs`` maps an out to ``modified``/``deleted`` (``dvc/stage/__init__.py``,
    ``Stage.status``). Given ``stages``, paths are shown from the repository
    root and in ``dvc.yaml`` order, as DVC prints them.
    """
    result: dict[str, list[Any]] = {}
    for st in statuses:
        items = _stage_json(st, (stages or {}).get(st.name))
        if items:
            result[st.name] = items
    if stages is not None:
        result = {name: result[name] for name in sorted(result, key=_index_in(list(stages)))}
    return result
