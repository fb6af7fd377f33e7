"""Publish an experiment's plots as a Prefect markdown artifact.

Provides:
    plots_markdown(plot_set, name, baseline): the artifact's text, every chart
        embedded as a ``data:image/svg+xml`` image (images as they are).
    publish_plots(root, name, baseline): collect baseline vs experiment plots
        and create the ``plots-<name>`` artifact; ``None`` when the project
        defines no plots.

Why markdown with ``data:`` URIs: the flow-run page renders markdown
artifacts (Artifacts tab) and images inside them, while Prefect has no place
to store image files; a ``data:`` URI needs neither a file server nor the
internet, so the charts show on an offline server. The charts are rendered to
SVG in-process by vl-convert (no browser), so the finalizer stays cheap.
Each chart compares the baseline commit (short SHA) with the experiment
(its name), one colour each, as ``plots diff`` would.
"""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

from prefect.artifacts import create_markdown_artifact

from prefect_dvc.experiments.collect import WORKSPACE
from prefect_dvc.plots import PlotSet, collect_plots, data_uri, to_svg
from prefect_dvc.plots.indexdefs import index_definitions
from prefect_dvc.tasks.artifacts import artifact_key

__all__ = ["plots_markdown", "publish_plots"]


def _alt(text: str) -> str:
    return text.replace("[", "(").replace("]", ")").replace("\n", " ")


def plots_markdown(plot_set: PlotSet, name: str, baseline: str) -> str:
    """Markdown with one heading and one embedded image per plot."""
    lines = [
        f"# Plots of experiment `{name}`",
        "",
        f"Baseline `{baseline[:7]}` against experiment `{name}`, one colour each.",
        "",
    ]
    for plot in plot_set.plots:
        lines += [f"## {_alt(plot.title)}", ""]
        if plot.kind == "vega":
            svg = to_svg(plot.spec).encode("utf-8")
            lines += [f"![{_alt(plot.title)}]({data_uri(svg, 'image/svg+xml')})", ""]
            continue
        for image in plot.images:
            uri = data_uri(image.content, image.mime)
            lines += [f"![{_alt(image.rev)}: {_alt(image.filename)}]({uri})", ""]
    if plot_set.warnings:
        lines += ["## Warnings", "", *(f"- {_alt(w)}" for w in plot_set.warnings), ""]
    return "\n".join(lines)


def publish_plots(root: Path, name: str, baseline: str) -> UUID | None:
    """Create the ``plots-<name>`` markdown artifact of an experiment just committed.

    Raises:
        PlotError: a definition, data file or template that cannot be drawn.
    """
    if not index_definitions(root):
        return None
    label = baseline[:7]
    plot_set = collect_plots(root, [baseline, WORKSPACE], labels={baseline: label, WORKSPACE: name})
    return create_markdown_artifact(
        markdown=plots_markdown(plot_set, name, baseline),
        key=artifact_key("plots", name),
        description=f"Plots of experiment **{name}** against baseline {label}",
    )
