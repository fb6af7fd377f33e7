"""``exp show --param-deps``: only the params that stages depend on.

Provides:
    declared_params(pipeline): ``{params file: dotted keys, or None for the whole file}``.
    only_param_deps(rows, declared): the rows with every other param left out.

DVC (``dvc/repo/experiments/collect.py::_collect_rev`` with ``param_deps``)
reads params through ``repo.params.show(deps_only=True)``: a file that is no
stage's params dep disappears, a listed key keeps its whole subtree. As
measured on DVC 3.67.1 (``exp show --csv --param-deps``), only the workspace
row and queued rows are filtered; committed revisions (baselines and
experiments) keep every param, so the other columns stay, blank where
filtered. The workspace's ``dvc.yaml`` decides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from prefect_dvc.experiments.collect import WORKSPACE, ExpData, ExpRow, FileData
from prefect_dvc.translators.pipeline import Pipeline

Declared = Mapping[str, tuple[str, ...] | None]


def declared_params(pipeline: Pipeline) -> dict[str, tuple[str, ...] | None]:
    """Every stage's params deps by repo-relative file; ``None``: a stage takes the whole file."""
    found: dict[str, tuple[str, ...] | None] = {}
    for stage in pipeline.stages.values():
        for dep in stage.params:
            if dep.keys is None or found.get(dep.repo_path, ()) is None:
                found[dep.repo_path] = None
            else:
                found[dep.repo_path] = (*(found.get(dep.repo_path) or ()), *dep.keys)
    return found


def _subset(data: Mapping[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for dotted in keys:
        node: Any = data
        parts = dotted.split(".")
        for part in parts:
            if not isinstance(node, Mapping) or part not in node:
                break
            node = node[part]
        else:
            target = out
            for part in parts[:-1]:
                target = target.setdefault(part, {})
            target[parts[-1]] = node
    return out


def _filtered(data: ExpData, declared: Declared) -> ExpData:
    params: dict[str, FileData] = {}
    for file, fd in data.params.items():
        if file not in declared:
            continue
        keys = declared[file]
        params[file] = fd if keys is None or fd.error else FileData(data=_subset(fd.data, keys))
    return replace(data, params=params)


def only_param_deps(rows: Sequence[ExpRow], declared: Declared) -> list[ExpRow]:
    """``rows`` with the workspace and queue rows keeping only declared params (as DVC)."""
    result = []
    for row in rows:
        if row.rev != WORKSPACE and row.executor is None:
            result.append(row)
            continue
        revs = tuple(_filtered(d, declared) for d in row.revs)
        result.append(replace(row, data=_filtered(row.data, declared), revs=revs))
    return result
