"""DVC's ``${...}`` interpolation, as pure functions over plain data.

Provides:
    ParsingConfig, read_parsing_config(root): ``.dvc/config`` ``[parsing]`` options.
    find_templates(text): the unescaped ``${...}`` matches in a string.
    parse_expr(inner): ``train.layers[0]`` -> ``("train", "layers", "0")``.
    select(data, expr): look an expression up in a context's data.
    to_str(value, parsing): how an embedded value is written (``true``, ``--k v``).
    resolve(value, data, field, parsing, mark=...): interpolate every string
        (and key) in a value.
    FromContext, unmark(value): what ``mark=True`` wraps exact ``${...}``
        results in (``foreach``/``matrix`` data), and the deep unwrap.
    ResolveFailure: what went wrong and at which key path, for the caller to
        turn into an :class:`~prefect_dvc.errors.InterpolationError` with a line.

The rules are ``formats.md`` section 1.6: an exact match (the whole string is
one ``${...}``) keeps the value's type; embedded values are stringified
(booleans as ``true``/``false``); a dict embedded in ``cmd`` becomes CLI flags;
``\\${x}`` stays literally ``${x}``; only ``cmd`` and ``foreach``/``matrix``
data may receive lists and dicts.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect_dvc.config import check_config, merged_sections

# NOTE: ``(?<!\\)`` leaves ``\${x}`` alone; the backslash is dropped afterwards.
TEMPLATE = re.compile(r"(?<!\\)\$\{(?P<inner>.*?)\}")
_EXPR = re.compile(r"[^.\[\]]+(?:\.[^.\[\]]+|\[[^.\[\]]+\])*")
PRIMITIVES = (int, float, str, bytes, bool)


class ResolveFailure(Exception):
    """A ``${...}`` problem at key path ``at`` (relative to what was being resolved)."""

    def __init__(self, msg: str, hint: str, at: tuple[Any, ...] = ()) -> None:
        super().__init__(msg)
        self.msg = msg
        self.hint = hint
        self.at = at


@dataclass(frozen=True)
class FromContext:
    """A value that an exact ``${...}`` put into ``foreach``/``matrix`` data.

    DVC resolves that data without unwrapping its context nodes, and a node's
    ``str()`` is Python's, so ``foreach: ${flags}`` over ``[true, false]``
    names ``f@True``/``f@False`` while an inline ``[true, false]`` gives
    ``f@true``/``f@false`` (``dvc/parsing/__init__.py``, ``normalized_iterable``).
    Only the generated names differ; :func:`unmark` gives the plain value.
    """

    value: Any


def unmark(value: Any) -> Any:
    """``value`` with every :class:`FromContext` replaced by what it holds."""
    if isinstance(value, FromContext):
        return unmark(value.value)
    if isinstance(value, dict):
        return {k: unmark(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unmark(v) for v in value]
    return value


@dataclass(frozen=True)
class ParsingConfig:
    """How dicts unpack into CLI flags (DVC's ``[parsing]`` config section).

    ``bool``: ``store_true`` (False writes nothing) or ``boolean_optional``
    (False writes ``--no-k``). ``list``: ``nargs`` (``--k a b``) or ``append``
    (``--k a --k b``).
    """

    bool: str = "store_true"
    list: str = "nargs"


def read_parsing_config(root: Path) -> ParsingConfig:
    """``[parsing]`` of ``.dvc/config`` then ``.dvc/config.local`` (later wins), as DVC reads it.

    Values are lower-cased (``Boolean_Optional`` is ``boolean_optional``), as
    DVC's schema does.

    Raises:
        ConfigError: a config DVC would refuse (``prefect_dvc.config.check_config``).
    """
    sections = merged_sections(root)
    check_config(root, sections)
    parsing = sections.get("parsing", {})
    return ParsingConfig(
        bool=str(parsing.get("bool", "store_true")).lower(),
        list=str(parsing.get("list", "nargs")).lower(),
    )


def find_templates(text: str) -> list[re.Match[str]]:
    return list(TEMPLATE.finditer(text))


def parse_expr(inner: str) -> tuple[str, ...]:
    """Split ``a.b[0]`` (or ``a.b.0``) into its key segments.

    Raises:
        ResolveFailure: the text is not ``name(.name | [name])*``.
    """
    if not _EXPR.fullmatch(inner):
        raise ResolveFailure(
            f"invalid expression ${{{inner}}}",
            "Use names joined by '.' or '[index]', e.g. ${train.lr} or ${layers[0]}",
        )
    normalized = inner.replace("[", ".").replace("]", "")
    return tuple(part.strip() for part in normalized.split("."))


def select(data: Mapping[str, Any], inner: str) -> Any:
    """The value of ``${inner}`` in ``data``.

    Raises:
        ResolveFailure: the expression is invalid or names nothing.
    """
    node: Any = data
    for part in parse_expr(inner):
        try:
            if isinstance(node, Mapping):
                node = node[part]
            elif isinstance(node, list):
                node = node[int(part)]
            else:
                raise LookupError(part)
        except (LookupError, ValueError):
            raise ResolveFailure(
                f"could not find '{inner.strip()}' in ${{{inner}}}",
                "Define it in params.yaml or vars",
            ) from None
    return node


def to_str(value: Any, parsing: ParsingConfig | None = None) -> str:
    """The text an embedded ``${...}`` becomes."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return _unpack(value, parsing or ParsingConfig())
    return str(value)


def _flatten(data: Mapping[Any, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def _unpack(data: Mapping[Any, Any], parsing: ParsingConfig) -> str:
    """A dict as CLI flags: ``{lr: 0.1, layers: [8, 4]}`` -> ``--lr 0.1 --layers 8 4``."""
    words: list[str] = []
    for key, value in _flatten(data).items():
        if isinstance(value, bool):
            if value:
                words.append(f"--{key}")
            elif parsing.bool == "boolean_optional":
                words.append(f"--no-{key}")
        elif isinstance(value, str):
            words.append(f"--{key} {shlex.quote(value)}")
        elif isinstance(value, (list, tuple, dict)):
            words.extend(_unpack_list(key, value, parsing))
        else:
            words.append(f"--{key} {value}")
    return " ".join(words)


def _unpack_list(key: str, items: Any, parsing: ParsingConfig) -> list[str]:
    words: list[str] = []
    for index, item in enumerate(items):
        if isinstance(item, (list, tuple, dict)):
            raise ResolveFailure(
                f"cannot interpolate nested list in '{key}'",
                "Flatten the list, or pass it another way than ${...} in cmd",
            )
        text = shlex.quote(item) if isinstance(item, str) else f"{item}"
        # NOTE: non-string items use Python's str(), so True is "True" here (as in DVC).
        if parsing.list == "append" or index == 0:
            words.append(f"--{key} {text}")
        else:
            words.append(text)
    return words


def _check_type(value: Any, field: str | None) -> None:
    if value is None or isinstance(value, PRIMITIVES):
        return
    if field is None or "foreach" in field:
        return
    if isinstance(value, dict) and field == "cmd":
        return
    raise ResolveFailure(
        f"cannot interpolate data of type '{type(value).__name__}' into '{field}'",
        "Only strings, numbers and booleans fit here; a dict is unpacked only inside cmd",
    )


def resolve_str(
    text: str,
    data: Mapping[str, Any],
    field: str | None,
    parsing: ParsingConfig,
    mark: bool = False,
) -> Any:
    """Interpolate one string: an exact match keeps the value's type.

    With ``mark``, an exact match is returned wrapped in :class:`FromContext`.
    """
    matches = find_templates(text)
    if len(matches) == 1 and matches[0].group(0) == text:
        value = select(data, matches[0]["inner"])
        _check_type(value, field)
        return FromContext(value) if mark else value
    out: list[str] = []
    pos = 0
    for match in matches:
        value = select(data, match["inner"])
        _check_type(value, field)
        out.append(text[pos : match.start()])
        out.append(to_str(value, parsing))
        pos = match.end()
    out.append(text[pos:])
    return "".join(out).replace("\\${", "${")


def resolve(
    value: Any,
    data: Mapping[str, Any],
    field: str | None,
    parsing: ParsingConfig,
    at: tuple[Any, ...] = (),
    mark: bool = False,
) -> Any:
    """Interpolate every string in ``value``, dict keys included.

    ``field`` is the stage key being resolved (``cmd``, ``outs``...), which
    decides which types may be substituted; ``None`` allows everything.
    ``mark`` wraps each exact-match value (not keys) in :class:`FromContext`.

    Raises:
        ResolveFailure: with ``at`` set to the key path of the failing string.
    """
    try:
        if isinstance(value, str):
            return resolve_str(value, data, field, parsing, mark)
    except ResolveFailure as exc:
        raise ResolveFailure(exc.msg, exc.hint, at) from None
    if isinstance(value, dict):
        return {
            _key(resolve(k, data, field, parsing, (*at, k)), at): resolve(
                v, data, field, parsing, (*at, k), mark
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [resolve(v, data, field, parsing, (*at, i), mark) for i, v in enumerate(value)]
    return value


def _key(key: Any, at: tuple[Any, ...]) -> Any:
    if isinstance(key, (dict, list)):
        raise ResolveFailure(
            f"a key cannot be a {type(key).__name__}",
            "Interpolate a string, number or boolean into a key",
            at,
        )
    return key


def has_templates(value: Any) -> bool:
    """Whether any string (or key) in ``value`` contains an unescaped ``${...}``."""
    if isinstance(value, str):
        return bool(TEMPLATE.search(value))
    if isinstance(value, dict):
        return any(has_templates(k) or has_templates(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_templates(v) for v in value)
    return False
