"""``config``: get, set, unset and list DVC config options, as ``dvc config``.

``prefect-dvc config [--global|--system|--project|--local] [-u] [-l]
[--show-origin] [name] [value]`` with DVC 3.67.1's options, outputs and
refusals (``dvc/commands/config.py``); works outside a project for the
``--global``/``--system`` levels.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from prefect_dvc.cli.output import err_console
from prefect_dvc.config_levels import (
    ConfigName,
    get_value,
    level_files,
    list_values,
    parse_name,
    set_value,
    unset_value,
)
from prefect_dvc.errors import ConfigError
from prefect_dvc.repo import find_root

_LEVEL_FLAGS = {"global": "global", "system": "system", "project": "repo", "local": "local"}


def register(app: typer.Typer) -> None:
    app.command("config")(config)


def _root() -> Path | None:
    try:
        return find_root()
    except ConfigError:
        return None


def _level(**flags: bool) -> str | None:
    chosen = [_LEVEL_FLAGS[flag] for flag, on in flags.items() if on]
    if len(chosen) > 1:
        raise ConfigError(
            "--global, --system, --project and --local are mutually exclusive",
            hint="Pick one level",
        )
    return chosen[0] if chosen else None


def _origin(show: bool, root: Path | None, path: Path) -> str:
    if not show:
        return ""
    if root is not None and path.is_relative_to(root):
        return f"{path.relative_to(root).as_posix()}\t"
    return f"{path}\t"


def config(
    name: str = typer.Argument(None, help="section.option or remote.name.option."),
    value: str = typer.Argument(None, help="The value to set."),
    global_: bool = typer.Option(False, "--global", help="Use the global config."),
    system: bool = typer.Option(False, "--system", help="Use the system config."),
    project: bool = typer.Option(False, "--project", help="Use .dvc/config."),
    local: bool = typer.Option(False, "--local", help="Use .dvc/config.local."),
    unset: bool = typer.Option(False, "-u", "--unset", help="Unset the option."),
    list_: bool = typer.Option(False, "-l", "--list", help="List every defined option."),
    show_origin: bool = typer.Option(
        False, "--show-origin", help="Show the file holding each value."
    ),
) -> None:
    """Get or set config options (the files 'dvc config' reads and writes).

    Values print with ``print``: rich would expand ``--show-origin``'s tab.
    """
    level = _level(**{"global": global_, "system": system, "project": project, "local": local})
    if show_origin and (value is not None or unset):
        raise ConfigError(
            "--show-origin can't be used together with any of these options: -u/--unset, value"
        )
    root = _root()
    files = level_files(root)
    if list_:
        if name is not None or value is not None or unset:
            raise ConfigError(
                "-l/--list can't be used together with any of these options: "
                "-u/--unset, name, value"
            )
        for lvl, lines in list_values(files, level):
            prefix = _origin(show_origin, root, files[lvl])
            for line in lines:
                print(f"{prefix}{line}")
        return
    if name is None:
        raise ConfigError("name argument is required", hint="See 'prefect-dvc config --help'")
    try:
        parsed = parse_name(name)
    except ConfigError as exc:
        # NOTE: argparse's type check in DVC: a usage error (exit 254), not a config error
        raise typer.BadParameter(exc.msg, param_hint="name") from None
    if value is None and not unset:
        _print_value(files, parsed, level, root, show_origin)
        return
    if unset:
        unset_value(files, parsed, level)
        return
    set_value(files, parsed, value, level, Path(os.getcwd()))
    if name == "cache.type":
        err_console.print(
            "WARNING: You have changed the 'cache.type' option. This doesn't update any "
            "existing workspace file links, but it can be done with: prefect-dvc checkout "
            "--relink",
            soft_wrap=True,
            markup=False,
        )


def _print_value(
    files: dict[str, Path],
    parsed: ConfigName,
    level: str | None,
    root: Path | None,
    show_origin: bool,
) -> None:
    found = get_value(files, parsed, level)
    if found is not None:
        lvl, shown = found
        prefix = _origin(show_origin, root, files[lvl])
        print(f"{prefix}{shown}")
