"""Fill a template's ``<DVC_METRIC_*>`` placeholders to get a complete Vega-Lite spec.

Provides:
    PALETTE: the colour of each revision, in order (DVC's, so charts look alike).
    fill_spec(template_name, template, rows, revs, props, y_definitions): the spec.

What the placeholders become, as in DVC so custom templates behave the same:
``DATA`` the rows; ``X``/``Y`` the field names (``.``, ``[``, ``]`` escaped
for Vega's field syntax); ``TITLE``, ``X_LABEL``, ``Y_LABEL``; ``COLOR`` a
``rev`` scale with one colour per revision; ``ZOOM_AND_PAN`` a scale-bound
interval selection; ``PLOT_WIDTH``/``PLOT_HEIGHT`` 300. With one data series,
``GROUP_BY`` is ``[rev]`` and the series-specific anchors become ``{}``. With
several series (several files or columns), rows get the series key (``field``,
``filename`` or ``filename::field``) and ``STROKE_DASH``/``SHAPE`` tell the
series apart while the colour still tells the revision.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from prefect_dvc.errors import PlotError
from prefect_dvc.plots.templates import anchor

__all__ = ["PALETTE", "fill_spec"]

PALETTE = ("#945dd6", "#13adc7", "#f46837", "#48bb78", "#4299e1", "#ed8936", "#f56565")
_DASHES = ([1, 0], [8, 8], [8, 4], [4, 4], [4, 2], [2, 1], [1, 1])
_SHAPES = ("circle", "square", "triangle", "diamond")
_OPTIONAL = (
    "color",
    "column",
    "group_by",
    "group_by_x",
    "group_by_y",
    "pivot_field",
    "plot_height",
    "plot_width",
    "row",
    "shape",
    "stroke_dash",
    "tooltip",
    "zoom_and_pan",
)
_SERIES_KEYS = ("filename", "field")
_SEP = "::"


def _replace(node: Any, name: str, value: Any) -> Any:
    """Replace placeholder ``name`` wherever it is a whole value, or inside strings."""
    if isinstance(node, dict):
        return {k: _replace(v, name, value) for k, v in node.items()}
    if isinstance(node, list):
        return [_replace(v, name, value) for v in node]
    if isinstance(node, str):
        if node == name:
            return value
        if name in node and isinstance(value, str):
            return node.replace(name, value)
    return node


def _contains(node: Any, name: str) -> bool:
    if isinstance(node, dict):
        return any(_contains(v, name) for v in node.values())
    if isinstance(node, list):
        return any(_contains(v, name) for v in node)
    return isinstance(node, str) and name in node


def _escape(field: str) -> str:
    for char in (".", "[", "]"):
        field = field.replace(char, "\\" + char)
    return field


def _cycle(values: Sequence[Any], count: int) -> list[Any]:
    return [values[i % len(values)] for i in range(count)]


def _mapping(field: str, domain: Sequence[str], values: Sequence[Any], legend: bool) -> dict:
    encoding: dict[str, Any] = {
        "field": field,
        "scale": {"domain": list(domain), "range": _cycle(values, len(domain))},
    }
    if legend:
        encoding["legend"] = {"symbolFillColor": "transparent", "symbolStrokeColor": "grey"}
    return encoding


def _series_anchors(
    rows: list[dict[str, Any]], x: str, y: str, y_definitions: Sequence[Mapping[str, str]]
) -> dict[str, Any]:
    """Anchor values that depend on how many series the plot has (and rewrites ``rows``)."""
    varied = [k for k in _SERIES_KEYS if len({d.get(k) for d in y_definitions}) > 1]
    if len(y_definitions) <= 1 or not varied:
        for row in rows:
            for key in _SERIES_KEYS:
                row.pop(key, None)
        group = ["rev"]
        return {
            "group_by": group,
            "group_by_x": [*group, x],
            "group_by_y": [*group, y],
            "pivot_field": "datum.rev",
            "tooltip": [{"field": "rev"}, {"field": x}, {"field": y}],
        }
    series = _SEP.join(varied)
    for row in rows:
        if len(varied) == 2:
            row[series] = _SEP.join(str(row.get(k)) for k in varied)
        for key in _SERIES_KEYS:
            if key not in varied or len(varied) == 2:
                row.pop(key, None)
    domain = sorted({_SEP.join(d.get(k, "") for k in varied) for d in y_definitions})
    group = ["rev", series]
    return {
        "group_by": group,
        "group_by_x": [*group, x],
        "group_by_y": [*group, y],
        "pivot_field": f" + '{_SEP}' + ".join(f"datum.{k}" for k in ["rev", *varied]),
        "row": {"field": series, "sort": []},
        "column": {"field": series, "sort": []},
        "tooltip": [{"field": "rev"}, {"field": x}, {"field": y}, {"field": series}],
        "stroke_dash": _mapping(series, domain, _DASHES, legend=True),
        "shape": _mapping(series, domain, _SHAPES, legend=True),
    }


def fill_spec(
    template_name: str,
    template: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    revs: Sequence[str],
    props: Mapping[str, Any],
    y_definitions: Sequence[Mapping[str, str]],
) -> dict[str, Any]:
    """Fill ``template`` with ``rows`` of ``revs``; ``props`` has x, y, title and labels.

    Raises:
        PlotError: a template without the ``<DVC_METRIC_DATA>`` placeholder.
    """
    if not _contains(template, anchor("data")):
        raise PlotError(
            f"template '{template_name}' does not use the {anchor('data')} placeholder",
            path=template_name,
            hint=f'Put "values": "{anchor("data")}" in the template\'s "data"',
        )
    x, y = str(props["x"]), str(props["y"])
    data = [dict(row) for row in rows]
    values: dict[str, Any] = {
        "color": _mapping("rev", revs, PALETTE, legend=False),
        "zoom_and_pan": {"name": "grid", "select": "interval", "bind": "scales"},
        "plot_height": 300,
        "plot_width": 300,
        **_series_anchors(data, x, y, y_definitions),
    }
    spec: Any = dict(template)
    for name in _OPTIONAL:
        spec = _replace(spec, anchor(name), values.get(name, {}))
    for name, value in (
        ("title", props.get("title", "")),
        ("x", _escape(x)),
        ("y", _escape(y)),
        ("x_label", props.get("x_label", x)),
        ("y_label", props.get("y_label", y)),
        ("data", data),
    ):
        spec = _replace(spec, anchor(name), value)
    return spec
