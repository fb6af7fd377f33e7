"""Plot definitions as DVC 3 reads them from ``dvc.yaml``.

Provides:
    PlotDef: one plot: its id, rendering props and the data files it reads.
    IMAGE_SUFFIXES, is_image(path): images are shown as they are, never charted.
    collect_definitions(root, dvcfile=, top_level=): the top-level ``plots:`` list
        and every stage's ``plots:`` outs of one ``dvc.yaml``, merged by id
        (the whole index, named as DVC names it: ``plots/indexdefs.py``).
    top_level_definitions(entries, base, dvcfile): one file's top-level list.
    select(definitions, targets): the definitions a user named on the command line.
    data_sources(plot_id, props): the files a definition reads (DVC's rule).

A top-level entry is a path (``eval/roc.csv``), or ``{id_or_path: props}``
where ``y`` (and ``x``) may map files to columns, which makes the id a free
name (``roc: {y: {a.csv: tpr, b.csv: tpr}}``). Paths are relative to the
``dvc.yaml``'s folder and are returned relative to the repository root, as
stage outs are; a stage out's props override nothing that the top-level list
says about the same id, because DVC lets the top-level list have the last word.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefect_dvc.errors import PlotError
from prefect_dvc.translators import load_stages

__all__ = [
    "IMAGE_SUFFIXES",
    "PROPS",
    "PlotDef",
    "collect_definitions",
    "data_sources",
    "is_image",
    "select",
    "top_level_definitions",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".svg")
PROPS = ("x", "y", "template", "title", "x_label", "y_label", "header")


def is_image(path: str) -> bool:
    """DVC shows files with an image suffix as images, whatever their props say."""
    return path.lower().endswith(IMAGE_SUFFIXES)


@dataclass(frozen=True)
class PlotDef:
    """One plot to draw.

    ``props`` keeps ``x``, ``y``, ``template``, ``title``, ``x_label``,
    ``y_label`` and ``header`` with file keys made repo-relative; ``sources``
    are the repo-relative files whose rows (or image bytes) it needs.
    """

    id: str
    props: Mapping[str, Any] = field(default_factory=dict)
    sources: tuple[str, ...] = ()
    # where DVC groups it: the dvc.yaml of a top-level entry, "" for a stage out
    config: str = ""
    # the id as written when ``id`` became DVC's ``<config>::<id>`` (plots/indexdefs.py)
    name: str = ""

    @property
    def image(self) -> bool:
        return is_image(self.id)


def data_sources(plot_id: str, props: Mapping[str, Any]) -> tuple[str, ...]:
    """The files ``plot_id`` reads: ``y``'s file keys (then ``x``'s), else the id itself."""
    y, x = props.get("y"), props.get("x")
    found: list[str] = list(y) if isinstance(y, Mapping) else [plot_id]
    if isinstance(x, Mapping):
        found.extend(x)
    return tuple(dict.fromkeys(found))


def _rebase(base: str, path: str) -> str:
    return posixpath.normpath(posixpath.join(base, path))


def _rebase_axis(base: str, axis: Any) -> Any:
    if isinstance(axis, Mapping):
        return {_rebase(base, file): cols for file, cols in axis.items()}
    return axis


def _props(raw: Any, where: str, dvcfile: str = "dvc.yaml") -> dict[str, Any]:
    if raw is None or raw is True:
        return {}
    if not isinstance(raw, Mapping):
        raise PlotError(
            f"plot '{where}' must map to its properties, not {type(raw).__name__}",
            path=dvcfile,
            hint=f"Write the plot as '{where}: {{x: ..., y: ...}}' or as a plain path",
        )
    unknown = sorted(set(raw) - set(PROPS) - {"cache", "persist", "desc", "push", "remote"})
    if unknown:
        raise PlotError(
            f"plot '{where}' has unknown properties {', '.join(unknown)}",
            path=dvcfile,
            hint=f"Use only {', '.join(PROPS)}",
        )
    return {k: v for k, v in raw.items() if k in PROPS}


def top_level_definitions(
    entries: Iterable[Any], base: str, dvcfile: str = "dvc.yaml"
) -> list[PlotDef]:
    """The top-level ``plots:`` list of ``dvcfile`` (in folder ``base``), paths repo-relative.

    Raises:
        PlotError: an entry that is neither a path nor one ``id: props`` map.
    """
    found = []
    for entry in entries:
        if isinstance(entry, str):
            pid = _rebase(base, entry)
            found.append(PlotDef(pid, {}, (pid,)))
            continue
        if not isinstance(entry, Mapping) or len(entry) != 1:
            raise PlotError(
                "each entry of the top-level 'plots' list must be a path or one 'id: props' map",
                path=dvcfile,
                hint="See https://dvc.org/doc/user-guide/project-structure/dvcyaml-files#plots",
            )
        ((name, raw),) = entry.items()
        props = _props(raw, str(name), dvcfile)
        props["x"] = _rebase_axis(base, props.get("x"))
        props["y"] = _rebase_axis(base, props.get("y"))
        props = {k: v for k, v in props.items() if v is not None}
        # NOTE: the id is a path unless y names files (DVC's _id_is_path); a path is rebased.
        named_files = isinstance(props.get("y"), Mapping)
        pid = str(name) if named_files else _rebase(base, str(name))
        found.append(PlotDef(pid, props, data_sources(pid, props)))
    return found


def collect_definitions(
    root: Path, dvcfile: str = "dvc.yaml", *, top_level: bool = True
) -> list[PlotDef]:
    """Every plot of ``root/dvcfile``: stage ``plots:`` outs first, then the top-level list.

    Definitions sharing an id are merged, later props winning key by key.
    ``top_level=False`` gives the stage outs only.
    """
    loaded = load_stages(root, dvcfile)
    base = posixpath.dirname(posixpath.normpath(dvcfile)) or "."
    merged: dict[str, PlotDef] = {}
    found = [
        PlotDef(out.repo_path, _props(dict(out.plot_props), out.path, dvcfile), (out.repo_path,))
        for stage in loaded.stages
        for out in stage.outs
        if out.kind == "plot"
    ]
    if top_level:
        found += top_level_definitions(loaded.plots, base, dvcfile)
    for plot in found:
        if plot.id in merged:
            old = merged[plot.id]
            props = {**old.props, **plot.props}
            plot = PlotDef(plot.id, props, data_sources(plot.id, props))
        merged[plot.id] = plot
    return list(merged.values())


def _matches(plot: PlotDef, target: str) -> bool:
    target = posixpath.normpath(target).rstrip("/")
    names = (plot.id, plot.name or plot.id, *plot.sources)
    return any(name == target or name.startswith(target + "/") for name in names)


def _any_matches(plot: PlotDef, target: str, cwd: str) -> bool:
    """``target`` as shown (from ``cwd``) or as a path from ``cwd`` names ``plot``."""
    if _matches(plot, target):
        return True
    return bool(cwd) and _matches(plot, posixpath.join(cwd, target))


def select(definitions: Sequence[PlotDef], targets: Sequence[str], cwd: str = "") -> list[PlotDef]:
    """The definitions whose id or data file is (or lies under) one of ``targets``.

    ``cwd`` is the repo-relative folder the targets were typed in (``""``: the
    root): a target may be a plot id as shown there or a path from there.

    Raises:
        PlotError: a target that names no plot.
    """
    if not targets:
        return list(definitions)
    for target in targets:
        if not any(_any_matches(plot, target, cwd) for plot in definitions):
            known = ", ".join(p.id for p in definitions) or "none"
            raise PlotError(
                f"'{target}' is not a plot defined in dvc.yaml (plots: {known})",
                hint="Pass a plot id or data file listed under 'plots:' in dvc.yaml",
            )
    return [p for p in definitions if any(_any_matches(p, t, cwd) for t in targets)]
