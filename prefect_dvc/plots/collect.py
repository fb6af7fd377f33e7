"""Collect every plot of a project across revisions: filled Vega-Lite specs and images.

Provides:
    Image: one image file of one revision (bytes and MIME type).
    Plot: one chart (``kind="vega"``, a filled ``spec``) or one image plot
        (``kind="image"``, its ``images``), with the revisions it shows.
    PlotSet: the plots plus warnings about revisions that lacked data.
    diff_revisions(revs): DVC's revision list for ``plots diff``.
    expand_folders(definitions, reader, shas): a folder plot becomes one plot per file.
    collect_plots(root, revs, targets=, labels=): read, convert and fill.

A revision is named as the user wrote it (``HEAD``, a branch, an experiment
name, ``workspace``): that name is the ``rev`` of the rows and the legend
entry, so two experiments compare under their own names. A data file missing
from some revisions is a warning (the chart shows the others); missing from
all of them, or with a column the definition names but the file lacks, it is
an error.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from prefect_dvc.errors import PlotError
from prefect_dvc.experiments.collect import WORKSPACE
from prefect_dvc.experiments.diff import resolve_revision
from prefect_dvc.experiments.gitbatch import GitBatch
from prefect_dvc.plots.convert import Axes, flat_rows, labels, resolve_axes
from prefect_dvc.plots.data import SourceReader, parse_rows
from prefect_dvc.plots.definitions import PlotDef, select
from prefect_dvc.plots.fill import fill_spec
from prefect_dvc.plots.indexdefs import (
    index_definitions,
    name_by_config,
    pipeline_files,
    seen_from,
)
from prefect_dvc.plots.templates import load_template

__all__ = ["Image", "Plot", "PlotSet", "collect_plots", "diff_revisions"]

_MIME = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True)
class Image:
    """One image plot file as it is at one revision."""

    rev: str
    filename: str
    content: bytes

    @property
    def mime(self) -> str:
        return _MIME.get(posixpath.splitext(self.filename)[1].lower(), "image/png")


@dataclass(frozen=True)
class Plot:
    """One plot ready to draw: a filled Vega-Lite ``spec``, or ``images`` shown as they are."""

    id: str
    kind: Literal["vega", "image"]
    title: str
    revisions: tuple[str, ...]
    spec: Mapping[str, Any] = field(default_factory=dict)
    images: tuple[Image, ...] = ()


@dataclass(frozen=True)
class PlotSet:
    """What ``plots show``/``plots diff`` draw, and what they could not find."""

    plots: tuple[Plot, ...]
    warnings: tuple[str, ...] = ()


def diff_revisions(revs: Sequence[str]) -> list[str]:
    """``plots diff`` revisions: none means HEAD vs workspace, one means it vs workspace.

    The workspace comes first, as DVC lists it.
    """
    wanted = list(dict.fromkeys(revs or ["HEAD"]))
    if len(wanted) == 1 and wanted != [WORKSPACE]:
        wanted.insert(0, WORKSPACE)
    return wanted


def _read_rev(plot: PlotDef, reader: SourceReader, sha: str) -> tuple[dict[str, bytes], list[str]]:
    found, missing = {}, []
    for source in plot.sources:
        raw = reader.read(sha, source)
        if raw is None:
            missing.append(source)
        else:
            found[source] = raw
    return found, missing


def _image_plot(plot: PlotDef, per_rev: Mapping[str, Mapping[str, bytes]]) -> Plot:
    images = tuple(
        Image(rev, name, content)
        for rev, files in per_rev.items()
        for name, content in files.items()
    )
    title = str(plot.props.get("title") or plot.id)
    revisions = tuple(dict.fromkeys(image.rev for image in images))
    return Plot(plot.id, "image", title, revisions, images=images)


def _vega_plot(root: Path, plot: PlotDef, per_rev: Mapping[str, Mapping[str, bytes]]) -> Plot:
    header = plot.props.get("header", True) is not False
    parsed = {
        rev: {path: parse_rows(path, raw, header=header) for path, raw in files.items()}
        for rev, files in per_rev.items()
    }
    rows: list[dict[str, Any]] = []
    axes: Axes | None = None
    revisions: list[str] = []
    for rev, by_file in parsed.items():
        rev_axes = resolve_axes(plot.name or plot.id, plot.props, by_file)
        rev_rows = flat_rows(plot.name or plot.id, rev_axes, by_file, rev)
        if rev_rows:
            axes = axes or rev_axes
            revisions.append(rev)
            rows.extend(rev_rows)
    if axes is None:
        raise PlotError(
            f"plot '{plot.id}' has no data rows",
            path=plot.sources[0] if plot.sources else None,
            hint="Check that the file holds a table or a list of objects",
        )
    x_label, y_label = labels(plot.props, axes)
    title = str(plot.props.get("title") or plot.id)
    name, template = load_template(root, plot.props.get("template"))
    props = {"x": axes.x, "y": axes.y, "title": title, "x_label": x_label, "y_label": y_label}
    spec = fill_spec(name, template, rows, revisions, props, axes.y_definitions)
    return Plot(plot.id, "vega", title, tuple(revisions), spec=spec)


def _collect_one(
    root: Path, plot: PlotDef, reader: SourceReader, shas: Mapping[str, str]
) -> tuple[Plot, list[str]]:
    per_rev: dict[str, dict[str, bytes]] = {}
    warnings = []
    for label, sha in shas.items():
        found, missing = _read_rev(plot, reader, sha)
        if missing:
            warnings.append(f"{label}: plot '{plot.id}': {', '.join(missing)} not found")
        if found and not (missing and not plot.image):
            per_rev[label] = found
    if not per_rev:
        raise PlotError(
            f"plot '{plot.id}': data file {', '.join(plot.sources)} not found in {', '.join(shas)}",
            path=plot.config or None,
            hint="Run the pipeline (prefect-dvc repro) or fix the plot's path",
        )
    if plot.image:
        return _image_plot(plot, per_rev), warnings
    return _vega_plot(root, plot, per_rev), warnings


def _dir_files(plot: PlotDef, reader: SourceReader, shas: Mapping[str, str]) -> list[str]:
    """The files of a plot whose path is a folder at some revision (DVCLive's
    ``dvclive/plots/metrics``), in the union of all revisions, sorted."""
    if plot.sources != (plot.id,):
        return []
    found: set[str] = set()
    for sha in dict.fromkeys(shas.values()):
        if reader.read(sha, plot.id) is None:
            found.update(reader.list_dir(sha, plot.id))
    return sorted(found)


def expand_folders(
    definitions: Sequence[PlotDef], reader: SourceReader, shas: Mapping[str, str]
) -> list[PlotDef]:
    """Replace each plot whose path is a folder by one plot per file in it.

    As DVC 3 (``dvc/repo/plots/__init__.py``, ``unpack_if_dir`` in
    ``_collect_output_plots`` and ``_resolve_definitions``): each file becomes
    a plot of its own, keyed by its path, with the folder's properties, in the
    same ``dvc.yaml`` group (``config``). A definition of the same group that
    names the file itself keeps its own properties.
    """
    expanded: dict[tuple[str, str], PlotDef] = {}
    named = {(plot.config, plot.id) for plot in definitions}
    for plot in definitions:
        files = _dir_files(plot, reader, shas)
        if not files:
            expanded[(plot.config, plot.id)] = plot
            continue
        for file in files:
            if (plot.config, file) not in named:
                one = PlotDef(file, plot.props, (file,), config=plot.config)
                expanded.setdefault((plot.config, file), one)
    return list(expanded.values())


def collect_plots(
    root: Path,
    revs: Sequence[str] = (WORKSPACE,),
    targets: Sequence[str] = (),
    labels: Mapping[str, str] | None = None,
    cwd: str = "",
) -> PlotSet:
    """Every plot of every ``dvc.yaml`` of the index (or those ``targets`` name) at ``revs``.

    Plots are named as DVC names them (``plots/indexdefs.py``); data of a
    cached out is found through the ``dvc.lock`` next to each ``dvc.yaml``.
    ``labels`` renames revisions in the charts (``{sha: "baseline"}``);
    ``cwd`` (repo-relative, ``""`` = the root) is where the user is: ids are
    shown and targets read from there, as DVC does.

    Raises:
        PlotError: no plots defined, a target that names none, data missing in
            every revision, an unknown column or template.
        ExperimentNotFoundError: a revision that names nothing.
    """
    dvcfiles = pipeline_files(root)
    definitions = index_definitions(root, dvcfiles)
    if not definitions:
        raise PlotError(
            "no plots are defined",
            path="dvc.yaml",
            hint="Add a 'plots:' section or plots outs to a stage",
        )
    warnings: list[str] = []
    plots: list[Plot] = []
    with GitBatch(root) as batch, SourceReader(root, batch, dvcfiles) as reader:
        shas = {(labels or {}).get(rev, rev): resolve_revision(root, rev, batch) for rev in revs}
        named = name_by_config(expand_folders(definitions, reader, shas))
        named = [seen_from(plot, cwd) for plot in named]
        for plot in select(named, targets, cwd):
            drawn, notes = _collect_one(root, plot, reader, shas)
            plots.append(drawn)
            warnings.extend(notes)
    return PlotSet(tuple(plots), tuple(warnings))
