"""Vega-Lite templates: our built-in ones under DVC's names, and custom ones from ``.dvc/plots/``.

Provides:
    anchor(name): the placeholder text ``<DVC_METRIC_NAME>``.
    BUILTIN: name -> template (``linear``, ``simple``, ``scatter``, ``smooth``,
        ``confusion``, ``confusion_normalized``, ``bar_horizontal``,
        ``bar_horizontal_sorted``).
    load_template(root, name): a custom template (``.dvc/plots/<name>[.json]``
        or a repo-relative path) first, else a built-in; a deep copy either way.

Templates are written here, for this project; they use DVC's placeholders, so a
custom template written for DVC works unchanged: ``<DVC_METRIC_DATA>`` (the
rows), ``_X``/``_Y`` (field names), ``_TITLE``, ``_X_LABEL``, ``_Y_LABEL``, and
the optional ``_COLOR``, ``_STROKE_DASH``, ``_SHAPE``, ``_TOOLTIP``,
``_ZOOM_AND_PAN``, ``_PLOT_WIDTH``, ``_PLOT_HEIGHT``, ``_GROUP_BY``,
``_GROUP_BY_X``, ``_GROUP_BY_Y``, ``_PIVOT_FIELD``, ``_ROW``, ``_COLUMN``
(see ``fill.py`` for what each becomes).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from prefect_dvc.errors import PlotError

__all__ = ["BUILTIN", "TEMPLATE_DIR", "anchor", "load_template"]

SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
TEMPLATE_DIR = ".dvc/plots"


def anchor(name: str) -> str:
    """``anchor("x_label")`` -> ``"<DVC_METRIC_X_LABEL>"``."""
    return f"<DVC_METRIC_{name.upper()}>"


def _axis(name: str, kind: str, **extra: Any) -> dict[str, Any]:
    return {"field": anchor(name), "type": kind, "title": anchor(f"{name}_label"), **extra}


def _head(**extra: Any) -> dict[str, Any]:
    return {
        "$schema": SCHEMA,
        "data": {"values": anchor("data")},
        "title": {"text": anchor("title"), "anchor": "middle"},
        **extra,
    }


def _lines(smoothing: float) -> dict[str, Any]:
    """Raw lines per revision, a loess line whose bandwidth a slider sets, hover tooltips."""
    return _head(
        width=anchor("plot_width"),
        height=anchor("plot_height"),
        params=[
            {
                "name": "smoothing",
                "value": smoothing,
                "bind": {"input": "range", "min": 0.001, "max": 1, "step": 0.001},
            }
        ],
        encoding={
            "x": _axis("x", "quantitative"),
            "y": _axis("y", "quantitative", scale={"zero": False}),
            "color": anchor("color"),
            "strokeDash": anchor("stroke_dash"),
        },
        layer=[
            {
                "mark": {"type": "line"},
                "params": [anchor("zoom_and_pan")],
                "transform": [
                    {
                        "loess": anchor("y"),
                        "on": anchor("x"),
                        "groupby": anchor("group_by"),
                        "bandwidth": {"signal": "smoothing"},
                    }
                ],
            },
            {"mark": {"type": "line", "opacity": 0.25}},
            {
                "mark": {"type": "point", "filled": True, "size": 50},
                "params": [
                    {
                        "name": "nearest",
                        "select": {
                            "type": "point",
                            "on": "pointerover",
                            "clear": "pointerout",
                            "nearest": True,
                        },
                    }
                ],
                "encoding": {
                    "opacity": {
                        "condition": {"param": "nearest", "empty": False, "value": 1},
                        "value": 0,
                    },
                    "tooltip": anchor("tooltip"),
                },
            },
        ],
    )


def _simple() -> dict[str, Any]:
    return _head(
        width=anchor("plot_width"),
        height=anchor("plot_height"),
        params=[anchor("zoom_and_pan")],
        mark={"type": "line", "point": False, "tooltip": True},
        encoding={
            "x": _axis("x", "quantitative"),
            "y": _axis("y", "quantitative", scale={"zero": False}),
            "color": anchor("color"),
            "strokeDash": anchor("stroke_dash"),
            "tooltip": anchor("tooltip"),
        },
    )


def _scatter() -> dict[str, Any]:
    return _head(
        width=anchor("plot_width"),
        height=anchor("plot_height"),
        params=[anchor("zoom_and_pan")],
        mark={"type": "point", "filled": False},
        encoding={
            "x": _axis("x", "quantitative", scale={"zero": False}),
            "y": _axis("y", "quantitative", scale={"zero": False}),
            "color": anchor("color"),
            "shape": anchor("shape"),
            "tooltip": anchor("tooltip"),
        },
    )


def _confusion(normalized: bool) -> dict[str, Any]:
    """A count matrix of (x, y) pairs, one panel per revision (facet ``column``)."""
    value, title = ("share", "share of row") if normalized else ("count", "count")
    scale = {"domain": [0, 1]} if normalized else {"domainMin": 0, "nice": True}
    # NOTE: the aggregate runs per facet panel (revision), but impute does not: it must
    # group by the revision (and series) itself or it invents rows with no revision.
    transforms: list[dict[str, Any]] = [
        {"aggregate": [{"op": "count", "as": "count"}], "groupby": [anchor("y"), anchor("x")]},
        {"impute": "count", "key": anchor("x"), "groupby": anchor("group_by_y"), "value": 0},
        {"impute": "count", "key": anchor("y"), "groupby": anchor("group_by_x"), "value": 0},
        {
            "joinaggregate": [{"op": "sum", "field": "count", "as": "row_total"}],
            "groupby": anchor("group_by_y"),
        },
        {"calculate": "datum.count / max(datum.row_total, 1)", "as": "share"},
        {"joinaggregate": [{"op": "max", "field": value, "as": "top"}], "groupby": []},
        {"calculate": f"datum.{value} > datum.top / 2", "as": "dark"},
    ]
    cell = {
        "mark": "rect",
        "encoding": {
            "color": {"field": value, "type": "quantitative", "title": title, "scale": scale},
            "tooltip": [
                {"field": anchor("x"), "type": "nominal"},
                {"field": anchor("y"), "type": "nominal"},
                {"field": "count", "type": "quantitative"},
                {"field": "share", "type": "quantitative", "format": ".2f"},
            ],
        },
    }
    label = {
        "mark": {"type": "text"},
        "encoding": {
            "text": {
                "field": value,
                "type": "quantitative",
                "format": ".2f" if normalized else "d",
            },
            "color": {"condition": {"test": "datum.dark", "value": "white"}, "value": "black"},
        },
    }
    return _head(
        facet={"column": {"field": "rev", "sort": [], "title": None}, "row": anchor("row")},
        spec={
            "width": anchor("plot_width"),
            "height": anchor("plot_height"),
            "transform": transforms,
            "encoding": {
                "x": _axis("x", "nominal", sort="ascending"),
                "y": _axis("y", "nominal", sort="ascending"),
            },
            "layer": [cell, label],
        },
    )


def _bars(sort: bool) -> dict[str, Any]:
    y = _axis("y", "nominal")
    if sort:
        y["sort"] = "-x"
    return _head(
        width=anchor("plot_width"),
        height=anchor("plot_height"),
        params=[anchor("zoom_and_pan")],
        mark={"type": "bar", "tooltip": True},
        encoding={
            "x": _axis("x", "quantitative", scale={"zero": False}),
            "y": y,
            "yOffset": {"field": "rev", "sort": []},
            "color": anchor("color"),
            "column": anchor("column"),
        },
    )


BUILTIN: dict[str, dict[str, Any]] = {
    "linear": _lines(0.001),
    "smooth": _lines(0.3),
    "simple": _simple(),
    "scatter": _scatter(),
    "confusion": _confusion(normalized=False),
    "confusion_normalized": _confusion(normalized=True),
    "bar_horizontal": _bars(sort=False),
    "bar_horizontal_sorted": _bars(sort=True),
}


def _custom_path(root: Path, name: str) -> Path | None:
    for candidate in (
        root / TEMPLATE_DIR / name,
        root / TEMPLATE_DIR / f"{name}.json",
        root / name,
    ):
        if candidate.is_file():
            return candidate
    return None


def load_template(root: Path, name: str | None) -> tuple[str, dict[str, Any]]:
    """``(name, content)`` of the template ``name`` (default ``linear``).

    Raises:
        PlotError: an unknown name, or a custom file that is not a JSON object.
    """
    name = name or "linear"
    path = _custom_path(root, name)
    if path is not None:
        rel = path.relative_to(root).as_posix()
        try:
            content = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise PlotError(
                f"template is not valid JSON: {exc}", path=rel, hint="Fix the template file"
            ) from None
        if not isinstance(content, dict):
            raise PlotError(
                "template must be a JSON object (a Vega-Lite spec)",
                path=rel,
                hint="Fix the template file",
            )
        return name, content
    if name in BUILTIN:
        return name, copy.deepcopy(BUILTIN[name])
    raise PlotError(
        f"template '{name}' not found",
        path="dvc.yaml",
        hint=f"Use one of {', '.join(sorted(BUILTIN))}, or add {TEMPLATE_DIR}/{name}.json",
    )
