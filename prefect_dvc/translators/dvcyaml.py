"""Read ``dvc.yaml`` as DVC does, but remember where every key was written.

Provides:
    DvcYamlDoc: the plain data of one ``dvc.yaml`` plus a line for every key path.
    parse_dvcyaml(text, display): parse and validate (DVC 3's schema) a text.
    load_dvcyaml(path, display): the same from a file; a missing file is a
        :class:`~prefect_dvc.errors.DvcYamlError` that says what to do.
    line_map(text, display): the line of every key path of a YAML text.

Values come from ruamel's pure-Python ``safe`` loader (YAML 1.2, exactly what
DVC's own loader returns), and line numbers from a ruamel round-trip parse of
the same text: the round-trip nodes carry ``.lc`` positions, but their merge
keys (``<<``) order keys differently from the safe loader, and the order of a
dict reaches commands through ``${dict}`` unpacking.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from prefect_dvc.errors import DvcYamlError, SchemaError, YamlSyntaxError
from prefect_dvc.translators.schema import validate_dvcyaml
from prefect_dvc.yamlio import MEMO, parse_yaml

KeyPath = tuple[Any, ...]


@dataclass(frozen=True)
class DvcYamlDoc:
    """One parsed ``dvc.yaml``.

    Attributes:
        path: the file as shown in messages (relative to the repository root).
        data: plain dicts, lists and scalars (an empty or falsy file gives ``{}``).
        lines: 1-based line of each key path, e.g. ``("stages", "train")`` is
            the line of ``train:`` and ``("stages", "train", "deps", 0)`` the
            line of the first dep.
    """

    path: str
    data: Mapping[str, Any]
    lines: Mapping[KeyPath, int]

    def line(self, *keys: Any) -> int | None:
        """The line of ``keys``, or of its nearest ancestor that has one."""
        at: KeyPath = tuple(keys)
        while at:
            found = self.lines.get(at)
            if found is not None:
                return found
            at = at[:-1]
        return None


def load_dvcyaml(path: Path, display: str) -> DvcYamlDoc:
    """Read, parse and validate the ``dvc.yaml`` at ``path``.

    Raises:
        DvcYamlError: the file does not exist or cannot be read.
        YamlSyntaxError: it is not YAML.
        SchemaError: it does not follow DVC 3's schema.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DvcYamlError(
            f"{display} not found in {path.parent}",
            hint="Create one, or run from the project root",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DvcYamlError(
            f"cannot read {display}: {exc}", path=display, hint="Check the file's permissions"
        ) from None
    return parse_dvcyaml(text, display)


def parse_dvcyaml(text: str, display: str = "dvc.yaml") -> DvcYamlDoc:
    """Parse ``text`` (the content of ``display``) and validate it.

    Raises:
        YamlSyntaxError: with the line of the syntax problem.
        SchemaError: with the line and key path of the first schema violation.
    """
    # NOTE: DVC reads ``yaml.load(text) or {}``: ``[]``, ``false``, ``0`` and
    # ``""`` are an empty dvc.yaml too, while ``true`` or a list is invalid.
    try:
        data = parse_yaml(text, display) or {}
    except YamlSyntaxError:
        line_map(text, display)  # the round-trip parser reports first, as it always did
        raise
    lines = _Lines(text, display)
    if not isinstance(data, dict):
        raise SchemaError(
            f"expected a mapping at the top level, got {type(data).__name__}",
            path=display,
            line=1,
            hint="Start the file with 'stages:'",
        )
    doc = DvcYamlDoc(path=display, data=data, lines=lines)
    validate_dvcyaml(data, doc.path, doc.line)
    return doc


class _Lines(Mapping[KeyPath, int]):
    """:func:`line_map` of a text, parsed on first use.

    Only messages need line numbers; a valid file's round-trip parse (the
    slower of the two) cost ~15 ms of every ``status`` and no-op ``repro``.
    """

    def __init__(self, text: str, display: str) -> None:
        self._text, self._display = text, display
        self._lines: dict[KeyPath, int] | None = None

    def _map(self) -> dict[KeyPath, int]:
        if self._lines is None:
            self._lines = line_map(self._text, self._display)
        return self._lines

    def __getitem__(self, key: KeyPath) -> int:
        return self._map()[key]

    def __iter__(self) -> Iterator[KeyPath]:
        return iter(self._map())

    def __len__(self) -> int:
        return len(self._map())


def line_map(text: str, display: str) -> dict[KeyPath, int]:
    """1-based line of every key path of the YAML ``text`` (``("stages", "a")`` -> 2).

    Raises:
        YamlSyntaxError: the text is not YAML.
    """
    return MEMO.get("lines", text, lambda: _line_map(text, display))


def _line_map(text: str, display: str) -> dict[KeyPath, int]:
    try:
        root = YAML(typ="rt", pure=True).load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise YamlSyntaxError(
            f"invalid YAML: {exc.problem or exc.context or 'syntax error'}",
            path=display,
            line=mark.line + 1 if mark is not None else None,
            hint="Fix the YAML syntax",
        ) from None
    except YAMLError as exc:
        raise YamlSyntaxError(
            f"invalid YAML: {exc}", path=display, hint="Fix the YAML syntax"
        ) from None
    lines: dict[KeyPath, int] = {}
    _walk(root, (), lines)
    return lines


def _walk(node: Any, at: KeyPath, lines: dict[KeyPath, int]) -> None:
    # NOTE: iterative would be faster, but dvc.yaml files are shallow.
    if isinstance(node, CommentedMap):
        for key, value in node.items():
            # NOTE: keys that arrive through a ``<<`` merge have no position
            # in this map; the ancestor's line is used for them instead.
            with contextlib.suppress(KeyError, TypeError):
                lines[(*at, key)] = node.lc.key(key)[0] + 1
            _walk(value, (*at, key), lines)
    elif isinstance(node, CommentedSeq):
        for index, value in enumerate(node):
            with contextlib.suppress(KeyError, TypeError):
                lines[(*at, index)] = node.lc.item(index)[0] + 1
            _walk(value, (*at, index), lines)
