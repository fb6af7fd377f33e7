"""``--version`` and ``version``: what is installed, as ``dvc --version`` and ``dvc version``.

``--version`` prints the bare version (scripts compare it, as they do
``dvc --version``); ``version`` adds what a bug report needs: Python and the
platform, Prefect and the libraries whose behaviour we match, the DVC file
format generation and the config folders (``dvc version``'s sections).
"""

from __future__ import annotations

import importlib.metadata
import platform

import typer

from prefect_dvc.config_levels import level_files

#: Libraries whose versions decide behaviour a user may report.
_LIBRARIES = ("prefect", "ruamel.yaml", "configobj", "hydra-core", "fsspec", "s3fs", "gitpython")


def package_version(name: str = "prefect-dvc") -> str:
    """The installed version of ``name``, or ``"not installed"``."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def print_version(value: bool) -> None:
    """Eager ``--version`` callback: print the version and stop, whatever else was typed."""
    if value:
        print(package_version())
        raise typer.Exit()


def register(app: typer.Typer) -> None:
    app.command("version")(version)


def version() -> None:
    """Show prefect-dvc's version and its environment (as 'dvc version')."""
    files = level_files(None)
    lines = [
        f"prefect-dvc version: {package_version()}",
        "-" * 27,
        f"Platform: Python {platform.python_version()} on {platform.platform()}",
        "Libraries:",
        *(f"\t{name} = {package_version(name)}" for name in _LIBRARIES),
        "File formats: DVC 3 (dvc.yaml, dvc.lock schema 2.0, .dvc/cache/files/md5)",
        "Config:",
        f"\tGlobal: {files['global'].parent}",
        f"\tSystem: {files['system'].parent}",
    ]
    print("\n".join(lines))
