"""One DVC config file (``.dvc/config``, ``.dvc/config.local``) read and written with configobj.

Provides:
    Value, Sections: a parsed file: section -> key -> value (a string, or a
        list of strings for an unquoted ``a, b``), names and keys lower-case.
    read_sections(path): parse one file as DVC does.
    line_of(path, section, key): the 1-based line of a key (or section) for messages.
    edit_sections(path, change): apply ``change`` to the file's sections and
        write it back, keeping the user's comments and the file's mode.
    format_config(sections): the text DVC writes for ``sections``.

Why configobj: DVC reads and writes these files with it (``Config.load_file``
and ``Config._save_config`` in ``dvc/config.py``), so quoting (``"a,b"``,
``'''x'''``), inline ``#`` comments, unquoted comma lists, interpolation and
parse errors all behave as in DVC. DVC lower-cases every section name and key
when it loads a file (``_lower_keys``), and so do we. DVC's writer rebuilds
the file from a dict and loses comments; ours edits configobj's own tree, so
comments survive, and otherwise writes DVC's bytes: plain sections first,
then ``remote "x"``/``machine "x"``/``db "x"`` sections, empty ones dropped,
keys indented by four spaces.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from configobj import ConfigObj, ConfigObjError

from prefect_dvc.config_schema import split_named
from prefect_dvc.errors import ConfigError
from prefect_dvc.yamlio import atomic_write

Value = str | list[str]
Sections = dict[str, dict[str, Value]]
_INDENT = "    "


def _display(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def _parse(path: Path) -> ConfigObj:
    """The configobj tree of ``path`` (empty when it does not exist)."""
    if not path.exists():
        return ConfigObj()
    try:
        return ConfigObj(str(path), encoding="utf-8", file_error=True)
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"cannot parse: not UTF-8 text ({exc.reason})", path=_display(path)
        ) from None
    except ConfigObjError as exc:
        line = getattr(exc, "line_number", None)
        first = str(exc).split(" at line ")[0].rstrip(".")
        raise ConfigError(
            f"cannot parse: {first}",
            path=_display(path),
            line=line,
            hint="Fix the INI syntax (sections like [core], lines like 'key = value')",
        ) from None


def _plain(path: Path, tree: Mapping[str, Any]) -> dict[str, Any]:
    """``tree`` as plain dicts, interpolated as DVC's ``.dict()`` does, keys lower-case."""
    try:
        data = tree.dict() if isinstance(tree, ConfigObj) else dict(tree)
    except ConfigObjError as exc:
        raise ConfigError(f"cannot interpolate a value: {exc}", path=_display(path)) from None
    return _lower_keys(data)


def _lower_keys(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k.lower(): _lower_keys(v) if isinstance(v, Mapping) else v for k, v in data.items()}


def read_sections(path: Path) -> Sections:
    """The sections of one config file as DVC reads them; empty when the file does not exist.

    Raises:
        ConfigError: a syntax error (with its line), a key outside any
            section, or a ``[[subsection]]`` (DVC: "extra keys not allowed").
    """
    data = _plain(path, _parse(path))
    sections: Sections = {}
    for name, values in data.items():
        if not isinstance(values, dict):
            raise config_problem(path, name, None, "a key outside any section is not allowed")
        for key, value in values.items():
            if isinstance(value, dict):
                raise config_problem(path, name, key, "subsections are not allowed")
        sections[name] = dict(values)
    return sections


def line_of(path: Path, section: str, key: str | None = None) -> int | None:
    """The line of ``key`` in ``section`` (or of the section header), matched case-insensitively."""
    if not path.exists():
        return None
    current: str | None = None
    for number, raw in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines()):
        line = raw.strip()
        if line.startswith("["):
            current = _unquote(line.strip("[]").strip()).lower()
            if current == section and key is None:
                return number + 1
        elif current == section and key is not None and "=" in line:
            if line.split("=", 1)[0].strip().lower() == key:
                return number + 1
        elif current is None and key is None and line.split("=", 1)[0].strip().lower() == section:
            return number + 1
    return None


def _unquote(text: str) -> str:
    for quote in ('"', "'"):
        if len(text) >= 2 and text[0] == text[-1] == quote:
            return text[1:-1]
    return text


def config_problem(path: Path, section: str, key: str | None, message: str) -> ConfigError:
    """A one-line error naming the file, the line and ``section.key``."""
    where = f"[{section}]" if key is None else f"'{key}' in [{section}]"
    return ConfigError(
        f"{where}: {message}",
        path=_display(path),
        line=line_of(path, section, key),
        hint="Fix or remove it (see https://dvc.org/doc/user-guide/project-structure/configuration)",
    )


def _normalise(tree: ConfigObj) -> None:
    """Lower-case section names and keys in place (as DVC loads them), keeping comments."""
    for name in list(tree.sections):
        if name != name.lower():
            tree.rename(name, name.lower())
        section = tree[name.lower()]
        for key in list(section.scalars):
            if key != key.lower():
                section.rename(key, key.lower())


def _order(tree: ConfigObj) -> None:
    """Drop empty sections; plain sections before named ones (DVC's ``_pack_named`` order)."""
    for name in [n for n in tree.sections if not tree[n].scalars and not tree[n].sections]:
        del tree[name]
    plain = [n for n in tree.sections if split_named(n)[1] is None]
    tree.sections[:] = plain + [n for n in tree.sections if n not in plain]


def _text(tree: ConfigObj) -> str:
    tree.filename = None
    tree.indent_type = _INDENT
    tree.newlines = "\n"
    if not tree.sections and not tree.scalars and not any(tree.initial_comment):
        return ""
    out = io.BytesIO()
    tree.write(out)
    return out.getvalue().decode("utf-8")


def edit_sections(path: Path, change: Callable[[Sections], Sections]) -> None:
    """Rewrite ``path`` with ``change(sections)``, keeping comments and the file's mode.

    ``change`` gets the current sections (as :func:`read_sections` returns
    them) and returns the wanted ones; sections and keys it keeps keep their
    comments and places, new ones are appended in DVC's order.
    """
    tree = _parse(path)
    read_sections(path)  # NOTE: the same refusals as reading, before anything is written
    _normalise(tree)
    wanted = change(_lower_keys(tree.dict()))
    for name in [n for n in tree.sections if n not in wanted]:
        del tree[name]
    for name, values in wanted.items():
        if name not in tree:
            tree[name] = {}
        section = tree[name]
        for key in [k for k in section.scalars if k not in values]:
            del section[key]
        for key, value in values.items():
            if section.get(key) != value:
                section[key] = value
    _order(tree)
    _write_keeping_mode(path, _text(tree))


def _write_keeping_mode(path: Path, text: str) -> None:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()  # NOTE: a new file gets the umask's mode, as DVC's open() gives it
    mode = stat.S_IMODE(path.stat().st_mode)
    atomic_write(path, text)
    os.chmod(path, mode)


def format_config(sections: Mapping[str, Mapping[str, Value]]) -> str:
    """The text DVC writes for ``sections`` (empty sections dropped, named ones last)."""
    tree = ConfigObj()
    for name, values in sections.items():
        tree[name] = dict(values)
    _order(tree)
    return _text(tree)
