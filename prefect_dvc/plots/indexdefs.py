"""Plot definitions of every ``dvc.yaml`` of the index, named as DVC 3 names them.

Provides:
    pipeline_files(root): the ``dvc.yaml`` files of the index (DVC's walk,
        none inside another file's out), in index order.
    index_definitions(root): every file's top-level ``plots:`` and stage
        ``plots:`` outs, each tagged with where DVC groups it (``config``).
    name_by_config(definitions): DVC's plot ids: an id defined in one place
        keeps its name; the same id in several places becomes
        ``<dvcfile>::<id>`` for each top-level definition (a stage out keeps
        the bare id).
    seen_from(plot, cwd): its id as DVC shows it from folder ``cwd``.

As DVC 3.67.1 (``dvc/repo/plots/__init__.py``: ``_collect_pipeline_files``
groups each file's top-level list under that file's path, ``_collect_output_plots``
puts stage outs under ``""``; ``dvc/utils/plots.py``: ``group_definitions_by_id``).
Paths are relative to the file's folder and are returned relative to the
repository root (DVC's, from the root). A top-level id whose ``y`` maps
files is a free name and is not rebased, so ``roc`` in ``sub/dvc.yaml`` is
``roc`` (``sub/dvc.yaml::roc`` when the root defines ``roc`` too).
"""

from __future__ import annotations

import dataclasses
import posixpath
from collections.abc import Mapping, Sequence
from pathlib import Path

from prefect_dvc.plots.definitions import PlotDef, collect_definitions, top_level_definitions
from prefect_dvc.translators import load_stages
from prefect_dvc.translators.index import find_dvcfiles

__all__ = ["index_definitions", "name_by_config", "pipeline_files", "seen_from"]

OUTS = ""  # NOTE: DVC's group of stage outs, whatever file declares them


def _within(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def pipeline_files(root: Path) -> list[str]:
    """The ``dvc.yaml`` files of ``root``'s index, in DVC's order (root first, top-down).

    A file inside another file's out is not part of the index (as ``load_index``).

    Raises:
        DvcYamlError, ParamsError: a file that cannot be read.
    """
    found: list[str] = []
    outs: list[str] = []
    for dvcfile in find_dvcfiles(root):
        if any(_within(dvcfile, out) for out in outs):
            continue
        found.append(dvcfile)
        outs.extend(out.repo_path for st in load_stages(root, dvcfile).stages for out in st.outs)
    return found


def index_definitions(root: Path, dvcfiles: Sequence[str] | None = None) -> list[PlotDef]:
    """Every plot of the index: each file's top-level list, then every stage's plot outs.

    ``config`` of each is its ``dvc.yaml`` path for a top-level definition and
    ``""`` for a stage out; ids are not yet disambiguated (:func:`name_by_config`).
    A top-level id repeated in one file: the later definition replaces the
    earlier, as DVC's dict does.

    Raises:
        DvcYamlError, ParamsError, PlotError: a file or definition that cannot be read.
    """
    files = pipeline_files(root) if dvcfiles is None else list(dvcfiles)
    found: list[PlotDef] = []
    outs: list[PlotDef] = []
    for dvcfile in files:
        loaded = load_stages(root, dvcfile)
        base = posixpath.dirname(posixpath.normpath(dvcfile)) or "."
        top = {p.id: p for p in top_level_definitions(loaded.plots, base, dvcfile)}
        found += [dataclasses.replace(p, config=dvcfile) for p in top.values()]
        # NOTE: DVC keeps a top-level entry and a stage out of the same id apart.
        outs += [
            dataclasses.replace(p, config=OUTS)
            for p in collect_definitions(root, dvcfile, top_level=False)
        ]
    return found + outs


def name_by_config(definitions: Sequence[PlotDef]) -> list[PlotDef]:
    """DVC's ids: ``<config>::<id>`` where the same id comes from several configs.

    The order is DVC's: by first appearance of each id, then config order.
    ``name`` keeps the id as written, so a target may name either.
    """
    by_id: dict[str, dict[str, PlotDef]] = {}
    for plot in definitions:
        by_id.setdefault(plot.id, {})[plot.config] = plot
    named: list[PlotDef] = []
    for pid, configs in by_id.items():
        for config, plot in configs.items():
            full = pid if len(configs) == 1 or config == OUTS else f"{config}::{pid}"
            named.append(dataclasses.replace(plot, id=full, name=pid))
    return named


def _rel(path: str, cwd: str) -> str:
    return posixpath.relpath(path, cwd) if cwd else path


def seen_from(plot: PlotDef, cwd: str) -> PlotDef:
    """``plot`` with the id DVC prints when run from ``cwd`` (repo-relative, ``""`` = root).

    DVC names paths relative to the current folder (``_relpath`` in
    ``dvc/repo/plots/__init__.py``): a path id and the ``<dvcfile>::`` prefix
    are rebased, a free name (``y`` mapping files) is not. ``name`` keeps the
    repo-relative id the data is read by.
    """
    if not cwd:
        return plot
    inner = plot.name or plot.id
    shown = inner if isinstance(plot.props.get("y"), Mapping) else _rel(inner, cwd)
    if plot.id != inner:
        shown = f"{_rel(plot.config, cwd)}::{shown}"
    return dataclasses.replace(plot, id=shown, name=inner)
