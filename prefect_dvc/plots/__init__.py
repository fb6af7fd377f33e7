"""DVC 3 plots: definitions, data, Vega-Lite templates, and rendering.

Provides (re-exported from the modules named in brackets):
    collect_plots(root, revs, targets=, labels=) [collect]: the filled plots.
    diff_revisions(revs) [collect]: what ``plots diff`` compares by default.
    Plot, PlotSet, Image [collect]: what is drawn.
    to_json, html_page, write_html, to_svg, to_png, data_uri [render].

The path from ``dvc.yaml`` to a chart: ``definitions`` (which plots, which
files) -> ``data`` (bytes at a revision, parsed rows) -> ``convert`` (DVC's
x/y inference, flat rows with ``rev``) -> ``templates`` + ``fill`` (a complete
Vega-Lite spec) -> ``render`` (JSON, HTML, SVG, PNG). Nothing here imports
Prefect; ``tasks/plots.py`` publishes the result as artifacts.
"""

from prefect_dvc.plots.collect import Image, Plot, PlotSet, collect_plots, diff_revisions
from prefect_dvc.plots.render import data_uri, html_page, to_json, to_png, to_svg, write_html

__all__ = [
    "Image",
    "Plot",
    "PlotSet",
    "collect_plots",
    "data_uri",
    "diff_revisions",
    "html_page",
    "to_json",
    "to_png",
    "to_svg",
    "write_html",
]
