"""Round-trip editing of params files for ``exp run -S``, byte for byte as DVC writes them.

Provides:
    ParamsDocument: one params file loaded for update (its format and data).
    load_for_update(path, display): read YAML (ruamel round-trip), JSON,
        TOML (tomlkit, comments kept) or ``.py`` (literal assignments),
        chosen by suffix as DVC's ``MODIFIERS`` do; a missing file is empty.
    plain(data): the data as plain dicts and lists, for OmegaConf.
    update(doc, new): DVC's ``merge_dicts`` + ``remove_missing_keys``.
    render(doc): the new text of the file.

DVC's ``dvc/utils/serialize`` (``modify_yaml``, ``modify_json``,
``modify_toml``) and ``dvc/utils/collections.py`` are followed exactly, so the
bytes equal real DVC's: YAML keeps comments and key order, but every value
the overrides pass through is re-written (flow lists become block lists,
redundant quotes go), JSON is written compact as ``json.dump`` does, TOML
keeps comments through tomlkit. ``.py`` files are edited by
``params_py.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any

import tomlkit
import tomlkit.exceptions
from ruamel.yaml import YAML

from prefect_dvc.errors import ParamsError
from prefect_dvc.experiments import params_py
from prefect_dvc.yamlio import parse_yaml


@dataclass(frozen=True)
class ParamsDocument:
    """One params file loaded for update.

    Attributes:
        fmt: ``yaml``, ``json``, ``toml`` or ``py`` (by suffix, as DVC; anything else is YAML).
        data: the parsed file; round-trip containers (ruamel, tomlkit) edited in place.
        source: the file's text as read (``""`` for a file that does not exist).
    """

    fmt: str
    data: Any
    source: str


def file_format(path: Path) -> str:
    """The format DVC's ``MODIFIERS`` pick for ``path``: by lower-cased suffix, else YAML."""
    return {".json": "json", ".toml": "toml", ".py": "py"}.get(path.suffix.lower(), "yaml")


def load_for_update(path: Path, display: str) -> ParamsDocument:
    """Read ``path`` for editing; a file that does not exist is an empty mapping, as in DVC.

    Raises:
        ParamsError: the file cannot be read, does not parse, or is not a mapping.
        YamlSyntaxError: a YAML file that does not parse.
    """
    fmt = file_format(path)
    try:
        text = path.read_text(encoding="utf-8") if path.exists() else None
    except (OSError, UnicodeDecodeError) as exc:
        raise ParamsError(f"cannot read params file: {exc}", path=display) from None
    if text is None:
        if fmt == "py":
            raise ParamsError(
                "-S cannot create a .py params file", path=display, hint="Create it by hand"
            )
        return ParamsDocument(fmt, tomlkit.document() if fmt == "toml" else {}, "")
    data = _parse(fmt, text, display)
    if not isinstance(data, dict):
        raise ParamsError(
            f"expected a mapping of params, got {type(data).__name__}",
            path=display,
            hint="Put the params under named keys",
        )
    return ParamsDocument(fmt, data, text)


def _parse(fmt: str, text: str, display: str) -> Any:
    if fmt == "json":
        try:
            return json.loads(text) or {}
        except json.JSONDecodeError as exc:
            raise ParamsError(
                f"invalid JSON: {exc.msg}", path=display, line=exc.lineno, hint="Fix the JSON"
            ) from None
    if fmt == "toml":
        try:
            return tomlkit.loads(text)
        except tomlkit.exceptions.ParseError as exc:
            raise ParamsError(
                f"invalid TOML: {exc}", path=display, line=exc.line, hint="Fix the TOML"
            ) from None
    if fmt == "py":
        return params_py.load(text, display)
    parse_yaml(text, display)  # our one-line YamlSyntaxError for a broken file
    return YAML(typ="rt").load(text) or {}


def plain(item: Any) -> Any:
    """Dicts and lists as plain ``dict``/``list`` (DVC's ``to_omegaconf``); scalars as they are."""
    if isinstance(item, dict):
        return {k: plain(v) for k, v in item.items()}
    if isinstance(item, list):
        return [plain(x) for x in item]
    return item


def update(doc: ParamsDocument, new: dict[str, Any], display: str) -> None:
    """Merge ``new`` into the loaded data, then drop keys ``new`` lacks (DVC's order).

    Raises:
        ParamsError: a value the file's format cannot hold (TOML has no null).
    """
    try:
        _merge_dicts(doc.data, new)
    except tomlkit.exceptions.ConvertError as exc:
        raise ParamsError(
            f"cannot write the new value to TOML: {exc}", path=display, hint="Use another value"
        ) from None
    _remove_missing_keys(doc.data, new)


def _merge_dicts(src: dict[str, Any], to_update: dict[str, Any]) -> None:
    for key, value in to_update.items():
        item = src.get(key)
        if key in src and isinstance(item, dict) and isinstance(value, dict):
            _merge_dicts(item, value)
        else:
            src[key] = value


def _remove_missing_keys(src: dict[str, Any], to_update: dict[str, Any]) -> None:
    for key in list(src.keys()):
        if key not in to_update:
            del src[key]
        elif isinstance(src[key], dict):
            _remove_missing_keys(src[key], to_update[key])


def render(doc: ParamsDocument, display: str) -> str:
    """The file's new text, written as DVC's dumpers write it.

    Raises:
        ParamsError: a ``.py`` edit DVC cannot express (see ``params_py``).
    """
    if doc.fmt == "json":
        return json.dumps(doc.data)
    if doc.fmt == "toml":
        return tomlkit.dumps(doc.data, sort_keys=False)
    if doc.fmt == "py":
        return params_py.render(doc.source, doc.data, display)
    yaml = YAML()
    yaml.default_flow_style = False
    stream = StringIO()
    yaml.dump(doc.data, stream)
    return stream.getvalue()
