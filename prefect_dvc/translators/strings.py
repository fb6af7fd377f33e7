"""Text fields of a stage stay text after ``${...}``.

Provides:
    stringify_stage(data): a resolved stage definition whose string-typed
        fields (``cmd``, ``wdir``, ``desc``, dep/out paths, params keys, the
        string flags of outs) hold strings, whatever an exact ``${...}`` gave.
    stringify_top(section, value): the same for a top-level section.

An exact ``${...}`` keeps the value's type, which is right for ``cache:
${flag}`` but not for ``desc: ${version}``: DVC 3.67.1 keeps the float
there and later fails in ``dvc stage list`` (``'float' object has no
attribute 'splitlines'``), or on ``deps: [${n}]`` (``'int' object has no
attribute 'decode'``). A number or boolean in a text field is written as an
embedded ``${...}`` would write it (``1.5``, ``true``). ``desc: ${x}`` with
``x: null`` means no description, as in DVC. Only numbers and booleans are
converted: a list or dict in a text field is still a schema error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prefect_dvc.translators.interpolate import to_str

_TEXT_FLAGS = (
    "desc",
    "type",
    "remote",
    "template",
    "x",
    "y",
    "x_label",
    "y_label",
    "title",
)


def _text(value: Any) -> Any:
    if isinstance(value, (bool, int, float)):
        return to_str(value)
    return value


def _texts(value: Any) -> Any:
    if isinstance(value, list):
        return [_text(item) for item in value]
    return _text(value)


def _params(value: Any) -> Any:
    if not isinstance(value, list):
        return value
    result: list[Any] = []
    for item in value:
        if isinstance(item, dict):
            item = {_text(f): _texts(keys) for f, keys in item.items()}
        result.append(_text(item))
    return result


def _out_flags(flags: Any) -> Any:
    if not isinstance(flags, Mapping):
        return flags
    result = dict(flags)
    for key in _TEXT_FLAGS:
        if key in result:
            result[key] = _texts(result[key]) if key == "y" else _text(result[key])
    if "labels" in result:
        result["labels"] = _texts(result["labels"])
    return result


def _outs(value: Any) -> Any:
    if not isinstance(value, list):
        return value
    return [
        {_text(path): _out_flags(flags) for path, flags in item.items()}
        if isinstance(item, dict)
        else _text(item)
        for item in value
    ]


def stringify_stage(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` (one resolved stage) with numbers and booleans in text fields as text."""
    result = dict(data)
    if "desc" in result and result["desc"] is None:
        del result["desc"]
    for key in ("cmd", "deps"):
        if key in result:
            result[key] = _texts(result[key])
    for key in ("wdir", "desc"):
        if key in result:
            result[key] = _text(result[key])
    if "params" in result:
        result["params"] = _params(result["params"])
    for key in ("outs", "metrics", "plots"):
        if key in result:
            result[key] = _outs(result[key])
    return result


def _plot_props(props: Any) -> Any:
    if not isinstance(props, Mapping):
        return props
    result = dict(props)
    for key in ("template", "x_label", "y_label", "title"):
        if key in result:
            result[key] = _text(result[key])
    for key in ("x", "y"):
        value = result.get(key)
        if isinstance(value, Mapping):
            result[key] = {_text(f): _texts(cols) for f, cols in value.items()}
        elif key in result:
            result[key] = _texts(value)
    return result


def stringify_top(section: str, value: Any) -> Any:
    """A resolved top-level section (``params``, ``metrics``, ``plots``,
    ``artifacts``) with numbers and booleans in its text fields as text."""
    if section in ("params", "metrics"):
        return _texts(value)
    if section == "plots" and isinstance(value, list):
        return [
            {_text(k): _plot_props(v) for k, v in item.items()}
            if isinstance(item, Mapping)
            else _text(item)
            for item in value
        ]
    if section == "artifacts" and isinstance(value, Mapping):
        return {
            name: {
                k: (_texts(v) if k == "labels" else _text(v) if k != "meta" else v)
                for k, v in artifact.items()
            }
            if isinstance(artifact, Mapping)
            else artifact
            for name, artifact in value.items()
        }
    return value
