"""Is a stage up to date with ``dvc.lock``, and if not, why?

Provides:
    Change: one reason a stage must run (``dep 'data.csv' modified``...).
    StageStatus: the reasons plus the current dep and param values, which the
        executor reuses to build the lock entry without hashing twice.
    compute_status(...): the comparison itself, by DVC's rules
        (``formats.md`` section 1.2: cmd, deps, params, outs, always_changed,
        callback stages; frozen stages only check their outs).
    status_json(statuses): DVC's ``status --json`` shape.

No Prefect here: ``status`` and a no-op ``repro`` answer from this module
alone.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefect_dvc.external import dep_value, hash_url, is_external, is_url
from prefect_dvc.storage.hashinfo import HashInfo
from prefect_dvc.storage.hashing import Hasher
from prefect_dvc.translators.params import params_lock_values
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
        return {
            "cmd": "command changed",
            "always": "always_changed",
            "callback": "callback stage (no deps and no outs)",
            "new": "never run (not in dvc.lock)",
            "forced": "forced",
        }.get(self.kind, self.kind)


@dataclass(frozen=True)
class StageStatus:
    """A stage compared with its lock entry."""

    name: str
    changes: tuple[Change, ...]
    deps: tuple[dict[str, Any], ...] = ()
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    missing_deps: tuple[str, ...] = ()
    outs: Mapping[str, HashInfo | None] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def hash_deps(
    root: Path, stage: StageSpec, hasher: Hasher
) -> tuple[list[dict[str, Any]], list[str]]:
    """Lock entries of the stage's present deps, and the deps that are missing.

    External deps (``external.py``) are included: a path outside the
    repository is hashed like any file or directory, a URL from its
    filesystem's etag/checksum, as DVC 3 records them.
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
    hashed = hasher.hash_many([path for _, path in present])
    for (dep, _), (info, _tree) in zip(present, hashed):
        entries.append(info.to_lock(dep))
    return entries, missing


def hash_outs(root: Path, stage: StageSpec, hasher: Hasher) -> dict[str, HashInfo | None]:
    """Out path (as written) -> its current hash, or ``None`` when it is missing."""
    result: dict[str, HashInfo | None] = {}
    present = [o for o in stage.outs if (root / o.repo_path).exists()]
    hashed = hasher.hash_many([root / o.repo_path for o in present])
    for out, (info, _tree) in zip(present, hashed):
        result[out.path] = info
    for out in stage.outs:
        result.setdefault(out.path, None)
    return result


def compute_status(
    root: Path, stage: StageSpec, lock_entry: Mapping[str, Any] | None, hasher: Hasher
) -> StageStatus:
    """Compare ``stage`` as it is now with ``lock_entry`` (``None``: never run)."""
    outs = hash_outs(root, stage, hasher)
    if stage.frozen:
        changes = _out_changes(outs, lock_entry)
        return StageStatus(stage.name, tuple(changes), outs=outs)
    deps, missing = hash_deps(root, stage, hasher)
    params = params_lock_values(root, stage)
    changes: list[Change] = []
    if stage.always_changed:
        changes.append(Change("always"))
    if stage.is_callback:
        changes.append(Change("callback"))
    if lock_entry is None:
        changes.append(Change("new"))
    else:
        if lock_entry.get("cmd") != stage.lock_cmd:
            changes.append(Change("cmd"))
        changes.extend(_dep_changes(deps, missing, lock_entry.get("deps") or []))
        changes.extend(_param_changes(params, lock_entry.get("params") or {}))
        changes.extend(_out_changes(outs, lock_entry))
    changes = _show_external_as_dvc(root, stage, changes)
    return StageStatus(stage.name, tuple(changes), tuple(deps), params, tuple(missing), outs)


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
    old = {d["path"]: dep_value(d) for d in locked if d.get("hash") == "md5"}
    legacy = {d["path"] for d in locked if d.get("hash") != "md5"}
    changes = [Change("dep", path, "deleted") for path in missing]
    for dep in deps:
        path = dep["path"]
        if path in legacy:
            changes.append(Change("dep", path, "modified (DVC 2 hash)"))
        elif path not in old:
            changes.append(Change("dep", path, "new"))
        elif old[path] != dep_value(dep):
            changes.append(Change("dep", path, "modified"))
    current = {d["path"] for d in deps} | set(missing)
    changes.extend(Change("dep", path, "removed") for path in old.keys() - current)
    return changes


def _flat(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(_flat(value, name + "."))
        else:
            flat[name] = value
    return flat


def _param_changes(
    params: Mapping[str, Mapping[str, Any]], locked: Mapping[str, Mapping[str, Any]]
) -> list[Change]:
    changes: list[Change] = []
    for file in sorted(set(params) | set(locked)):
        now, old = _flat(params.get(file, {})), _flat(locked.get(file, {}))
        for key in sorted(set(now) | set(old)):
            if key not in old:
                changes.append(Change("param", f"{file}:{key}", "new"))
            elif key not in now:
                changes.append(Change("param", f"{file}:{key}", "deleted"))
            elif now[key] != old[key] or type(now[key]) is not type(old[key]):
                changes.append(Change("param", f"{file}:{key}", "modified"))
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
        elif locked[path] is None or locked[path].md5 != info.md5:  # type: ignore[union-attr]
            changes.append(Change("out", path, "modified"))
    return changes


def status_json(statuses: Iterable[StageStatus]) -> dict[str, list[Any]]:
    """DVC's ``status --json`` shape: stage -> list of changed-deps/outs dicts and strings."""
    result: dict[str, list[Any]] = {}
    for st in statuses:
        if not st.changed:
            continue
        deps: dict[str, Any] = {}
        outs: dict[str, str] = {}
        items: list[Any] = []
        for change in st.changes:
            if change.kind == "dep":
                deps[change.path] = change.what
            elif change.kind == "param":
                file, _, key = change.path.partition(":")
                deps.setdefault(file, {})[key] = change.what
            elif change.kind == "out":
                outs[change.path] = change.what
            elif change.kind == "cmd":
                items.append("changed command")
            elif change.kind == "always":
                items.append("always changed")
            else:
                items.append(str(change))
        if deps:
            items.insert(0, {"changed deps": deps})
        if outs:
            items.append({"changed outs": outs})
        result[st.name] = items
    return result
