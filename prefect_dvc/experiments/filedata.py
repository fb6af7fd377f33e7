"""Params and metrics files of one revision, parsed as DVC 3 reads them.

Provides:
    FileError, FileData: one params/metrics file of one revision (parsed data or an error).
    flatten(data): nested keys joined by dots, as ``exp show`` columns name them.
    parse_file(rel, raw, role): params/metrics parsing by suffix (JSON, TOML,
        YAML 1.2 for anything else; Python params files are not supported).

Split from ``collect.py`` (which re-exports these names) so that module
keeps to collecting rows.
"""

from __future__ import annotations

import json
import posixpath
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from prefect_dvc.errors import PrefectDvcError
from prefect_dvc.yamlio import parse_yaml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["FileData", "FileError", "flatten", "parse_file"]


@dataclass(frozen=True)
class FileError:
    """Why a file could not be read, as DVC's JSON shows it (``type``, ``msg``)."""

    type: str
    msg: str

    def to_dict(self) -> dict[str, str]:
        return {"type": self.type, "msg": self.msg}


@dataclass(frozen=True)
class FileData:
    """One params or metrics file at one revision: nested ``data``, or ``error``."""

    data: Mapping[str, Any] = field(default_factory=dict)
    error: FileError | None = None

    @cached_property
    def flat(self) -> dict[str, Any]:
        """``data`` with nested keys joined by dots (``train.lr``), in file order."""
        return flatten(self.data)


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Join nested mapping keys with ``.``; lists and scalars are leaves."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


_FORMATS = {".json": "JSON", ".toml": "TOML", ".py": "Python"}


def parse_file(rel: str, raw: bytes | None, role: str) -> FileData:
    """Parse a params (``role="params"``) or metrics file by its suffix.

    Unknown suffixes are read as YAML 1.2, as DVC does. Metrics keep only
    numbers, strings and booleans (DVC drops lists and nulls from metrics).
    A missing or unparsable file gives an error value, never an exception,
    so one bad file blanks only its own cells.
    """
    if raw is None:
        return FileData(
            error=FileError("FileNotFoundError", f"[Errno 2] No such file or directory: '{rel}'")
        )
    fmt = _FORMATS.get(posixpath.splitext(rel)[1].lower(), "YAML")
    corrupted = FileError(
        f"{fmt.upper()}FileCorruptedError",
        f"unable to read: '{rel}', {fmt} file structure is corrupted",
    )
    try:
        text = raw.decode("utf-8")
        if fmt == "JSON":
            value = json.loads(text)
        elif fmt == "TOML":
            value = tomllib.loads(text)
        elif fmt == "Python":
            return FileData(
                error=FileError("ParamsError", f"'{rel}': Python params files are not supported")
            )
        else:
            value = parse_yaml(text, rel)
    except (UnicodeDecodeError, ValueError, PrefectDvcError):
        return FileData(error=corrupted)
    if value is None:
        value = {}
    if not isinstance(value, dict):
        return FileData(error=FileError("TypeError", f"'{rel}' does not hold a mapping at the top"))
    return FileData(data=_only_scalars(value) if role == "metrics" else value)


def _only_scalars(data: Mapping[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            value = _only_scalars(value)
            if value:
                kept[key] = value
        elif isinstance(value, (bool, int, float, str)):
            kept[key] = value
    return kept
