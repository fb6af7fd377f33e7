"""``config`` get/set/unset/list over DVC's four config levels.

Provides:
    LEVELS: ``system``, ``global``, ``repo``, ``local`` (DVC's merge order).
    ConfigName: a parsed ``section.option`` / ``remote.name.option`` name.
    parse_name(text): that parse, as DVC's ``NAME_REGEX``.
    level_files(root): the file of each level (repo levels only inside a project).
    get_value(files, name, level): the value DVC prints, or ``None``.
    list_values(files, level): ``key=value`` lines per level, as ``dvc config -l``.
    set_value(files, name, value, level, cwd), unset_value(files, name, level).

Follows ``dvc/commands/config.py`` and ``dvc/config.py``: the system and
global files live in platformdirs' ``site_config_dir``/``user_config_dir``
for ``("dvc", "iterative")`` unless ``DVC_SYSTEM_CONFIG_DIR`` /
``DVC_GLOBAL_CONFIG_DIR`` say otherwise; reading shows path options
(``cache.dir``, a remote's ``url``, …) as absolute paths resolved from the
file's folder; writing stores a relative path relative to the file's folder
(typed relative to the current folder); a write is validated against the
levels up to the one written, as ``Config.edit`` does. Files are edited
with configobj through :mod:`prefect_dvc.config_file` (comments kept).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from prefect_dvc.config_file import Sections, Value, edit_sections, read_sections
from prefect_dvc.config_schema import split_named, validate
from prefect_dvc.errors import ConfigError
from prefect_dvc.yamlio import atomic_write

LEVELS = ("system", "global", "repo", "local")
_NAME = re.compile(r"^(?P<top>(remote|db)\.)?(?P<section>[^\.]*)\.(?P<option>[^\.]*)$")
_URL = re.compile(r"\w+://")
#: DVC's ``Config._map_dirs``: options holding a local path, per kind of section.
_PATH_OPTIONS = {
    "cache": {"dir"},
    "remote": {
        "url",
        "gdrive_user_credentials_file",
        "gdrive_service_account_json_file_path",
        "credentialpath",
        "configpath",
        "keyfile",
        "cert_path",
        "key_path",
    },
    "machine": {"startup_script", "setup_script"},
}
_NAMED_KINDS = ("remote", "machine", "db")


@dataclass(frozen=True)
class ConfigName:
    """``[top.]section.option``, lower-cased.

    Attributes:
        top: ``remote`` or ``db`` for a named section, else ``None``.
        section: the section (``core``) or the remote's/db's name.
        option: the key.
    """

    top: str | None
    section: str
    option: str

    @property
    def file_section(self) -> str:
        """The section header in the file: ``core`` or ``remote "name"``."""
        return f'{self.top} "{self.section}"' if self.top else self.section

    def missing(self, sections: Sections, with_option: bool = True) -> ConfigError | None:
        """DVC's ``_check``: the error when the section or option is not in ``sections``."""
        kind = self.top or "section"
        if self.file_section not in sections:
            return ConfigError(f"config file error: {kind} '{self.section}' doesn't exist")
        if with_option and self.option not in sections[self.file_section]:
            return ConfigError(
                f"config file error: option '{self.option}' doesn't exist in "
                f"{kind} '{self.section}'"
            )
        return None


def parse_name(text: str) -> ConfigName:
    """Parse a config name as DVC's ``_name_type`` does.

    Raises:
        ConfigError: a name that is not ``section.option``,
            ``remote.name.option`` or ``db.name.option``.
    """
    match = _NAME.match(text)
    if not match:
        raise ConfigError(
            "argument name: name argument should look like remote.name.option or "
            "db.name.option or section.option"
        )
    top = match.group("top")
    return ConfigName(
        top.strip(".") if top else None,
        match.group("section").lower(),
        match.group("option").lower(),
    )


def level_files(root: Path | None) -> dict[str, Path]:
    """The config file of each level; ``repo``/``local`` only when ``root`` is a project."""
    system = os.getenv("DVC_SYSTEM_CONFIG_DIR") or platformdirs.site_config_dir("dvc", "iterative")
    user = os.getenv("DVC_GLOBAL_CONFIG_DIR") or platformdirs.user_config_dir("dvc", "iterative")
    files = {"system": Path(system) / "config", "global": Path(user) / "config"}
    if root is not None:
        files["repo"] = root / ".dvc" / "config"
        files["local"] = root / ".dvc" / "config.local"
    return files


def _levels(files: Mapping[str, Path], level: str | None) -> list[str]:
    if level is None:
        return [lvl for lvl in LEVELS if lvl in files]
    if level not in files:
        raise ConfigError("Not inside a DVC repo", hint="Run it in a DVC project, or use --global")
    return [level]


def _shown(value: Value, kind: str, option: str, folder: Path) -> str:
    """The value as DVC prints it: a relative path option made absolute, a list as Python's repr."""
    if isinstance(value, list):
        return str(value)
    if option in _PATH_OPTIONS.get(kind, ()) and not _URL.match(value):
        expanded = os.path.expanduser(value)
        if not os.path.isabs(expanded):
            return os.path.abspath(os.path.join(folder, value))
    return value


def get_value(
    files: Mapping[str, Path], name: ConfigName, level: str | None
) -> tuple[str, str] | None:
    """``(level, value)`` of ``name`` from the last level that has it (or from ``level`` only).

    Raises:
        ConfigError: with ``level``, when that file lacks the section or option
            (without, a name nowhere defined gives ``None``, as DVC prints nothing).
    """
    for lvl in reversed(_levels(files, level)):
        sections = read_sections(files[lvl])
        problem = name.missing(sections)
        if problem is None:
            value = sections[name.file_section][name.option]
            return lvl, _shown(value, name.top or name.section, name.option, files[lvl].parent)
        if level is not None:
            raise problem
    return None


def list_values(files: Mapping[str, Path], level: str | None) -> list[tuple[str, list[str]]]:
    """``(level, ["section.option=value", ...])`` per level, in DVC's ``-l`` order.

    Within a level, named sections (``remote.<name>.<option>``, then
    ``machine``, ``db``) come first, then plain sections in file order, as
    DVC's ``_parse_named`` orders the loaded dict.
    """
    result = []
    for lvl in _levels(files, level):
        sections = read_sections(files[lvl])
        ordered = sorted(sections, key=lambda s: _rank(split_named(s)[0], s))
        lines = []
        for section in ordered:
            kind, named = split_named(section)
            prefix = f"{kind}.{named}" if named is not None else section
            for option, value in sections[section].items():
                owner = kind if named is not None else section
                shown = _shown(value, owner, option, files[lvl].parent)
                lines.append(f"{prefix}.{option}={shown}")
        result.append((lvl, lines))
    return result


def _rank(kind: str, section: str) -> int:
    named = split_named(section)[1] is not None
    return _NAMED_KINDS.index(kind) if named and kind in _NAMED_KINDS else len(_NAMED_KINDS)


def _stored_path(value: str, folder: Path, cwd: Path) -> str:
    """DVC's ``_to_relpath``: a relative path typed from ``cwd``, stored relative to ``folder``."""
    if _URL.match(value) or os.path.expanduser(value) != value or os.path.isabs(value):
        return value
    return Path(os.path.relpath(os.path.join(cwd, value), folder)).as_posix()


def _is_path_option(section: str, option: str) -> bool:
    kind, named = split_named(section)
    return option in _PATH_OPTIONS.get(kind if named is not None else section, ())


def _merged_before(files: Mapping[str, Path], level: str, own: Sections) -> Sections:
    merged: Sections = {}
    for lvl in LEVELS[: LEVELS.index(level)]:
        if lvl in files:
            for section, values in read_sections(files[lvl]).items():
                merged.setdefault(section, {}).update(values)
    for section, values in own.items():
        merged.setdefault(section, {}).update(values)
    return merged


def _write(files: Mapping[str, Path], level: str, change: Callable[[Sections], None]) -> None:
    """Apply ``change`` to ``level``'s file if the levels up to it stay valid (``Config.edit``)."""
    path = files[level]
    wanted = read_sections(path)
    change(wanted)
    problem = validate(_merged_before(files, level, wanted))
    if problem is not None:
        section, key, message = problem
        where = f"'{key}' in [{section}]" if key else f"[{section}]"
        raise ConfigError(f"config file error: {where}: {message}", hint="Nothing was changed")

    def apply(sections: Sections) -> Sections:
        change(sections)
        return sections

    edit_sections(path, apply)


def set_value(
    files: Mapping[str, Path], name: ConfigName, value: str, level: str | None, cwd: Path
) -> Path:
    """Set ``name`` to ``value`` in ``level``'s file (default: the project's ``.dvc/config``).

    A relative path option is stored relative to the file's folder, as DVC
    stores it; every other value as typed.

    Returns:
        The file written.

    Raises:
        ConfigError: outside a project for a repo level; a line break in the
            value; an option or value DVC's schema refuses (nothing written).
    """
    if "\n" in value or "\r" in value:
        raise ConfigError("a config value cannot span lines", hint="Remove the line break")
    lvl = _levels(files, level or "repo")[0]
    folder = files[lvl].parent

    def change(sections: Sections) -> None:
        stored = value
        if _is_path_option(name.file_section, name.option):
            stored = _stored_path(value, folder, cwd)
        sections.setdefault(name.file_section, {})[name.option] = stored

    _write(files, lvl, change)
    return files[lvl]


def unset_value(files: Mapping[str, Path], name: ConfigName, level: str | None) -> Path:
    """Remove ``name`` from ``level``'s file (default: the project's ``.dvc/config``).

    Raises:
        ConfigError: the section or option is not in that file (DVC's words).
    """
    lvl = _levels(files, level or "repo")[0]
    problem = name.missing(read_sections(files[lvl]))
    if problem is not None:
        raise problem

    def change(sections: Sections) -> None:
        sections[name.file_section].pop(name.option, None)

    _write(files, lvl, change)
    if files[lvl].stat().st_size == 0:
        # NOTE: configobj writes one newline for an empty config, and so DVC's file ends
        atomic_write(files[lvl], "\n")
    return files[lvl]
