"""``add``, ``commit``, ``move`` and ``remove``: data tracked by ``.dvc`` files (``tracked/``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import typer

from prefect_dvc.locks import locked_workspace
from prefect_dvc.project import open_stores_for
from prefect_dvc.repo import find_root
from prefect_dvc.tracked import scm
from prefect_dvc.tracked.add import AddOptions
from prefect_dvc.tracked.add import add as add_paths
from prefect_dvc.tracked.commit import commit as commit_targets
from prefect_dvc.tracked.move import move as move_tracked
from prefect_dvc.tracked.move import remove as remove_tracked


def register(app: typer.Typer) -> None:
    """Add the commands to the ``prefect-dvc`` app."""
    app.command("add")(add)
    app.command("commit")(commit)
    app.command("move")(move)
    app.command("remove")(remove)


def finish(root: Path, cwd: Path, to_track: Sequence[str], *, quiet: bool = False) -> None:
    """Stage ``to_track`` with ``core.autostage``, else print DVC's ``git add`` hint."""
    to_track = list(dict.fromkeys(to_track))
    if not to_track:
        return
    if scm.autostage_enabled(root):
        scm.stage_files(root, to_track)
        return
    if quiet or not scm.is_git_repo(root):
        return
    shown = [os.path.relpath(root / p, cwd) for p in to_track]
    print("\n".join(scm.git_add_hint(shown)))


@locked_workspace
def add(
    targets: list[str] = typer.Argument(..., help="Input files/directories to add."),
    no_commit: bool = typer.Option(
        False, "--no-commit", help="Don't put files/directories into cache."
    ),
    glob: bool = typer.Option(
        False, "--glob", help="Allows targets containing shell-style wildcards."
    ),
    out: str = typer.Option(None, "-o", "--out", help="Destination path to put files to."),
    force: bool = typer.Option(
        False, "-f", "--force", help="Override local file or folder if exists."
    ),
    no_relink: bool = typer.Option(
        False, "--no-relink", help="Don't recreate links from cache to workspace."
    ),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Be quiet."),
) -> None:
    """Track data files or directories with DVC (.dvc files)."""
    root = find_root()
    cwd = Path.cwd()
    options = AddOptions(no_commit=no_commit, glob=glob, out=out, force=force, relink=not no_relink)
    stores, hasher = open_stores_for(root, use_remote=False)
    try:
        result = add_paths(root, cwd, stores, hasher, targets, options)
    finally:
        hasher.close()
    finish(root, cwd, result.to_track, quiet=quiet)


@locked_workspace
def commit(
    targets: list[str] = typer.Argument(None, help="Stages or .dvc files to commit."),
    force: bool = typer.Option(
        False,
        "-f",
        "--force",
        help="Commit data even if hash values for dependencies or outputs did not change.",
    ),
    no_relink: bool = typer.Option(
        False, "--no-relink", help="Don't recreate links from cache to workspace."
    ),
) -> None:
    """Record changes to files or directories tracked by DVC in the cache (no command runs)."""
    root = find_root()
    result = commit_targets(root, Path.cwd(), targets or [], force=force, relink=not no_relink)
    if result.lock_updated:
        print("Updating lock file 'dvc.lock'")


@locked_workspace
def move(
    src: str = typer.Argument(..., help="Source path to a data file or directory."),
    dst: str = typer.Argument(..., help="Destination path."),
) -> None:
    """Rename or move a DVC controlled data file or a directory."""
    root = find_root()
    cwd = Path.cwd()
    finish(root, cwd, move_tracked(root, cwd, src, dst))


@locked_workspace
def remove(
    targets: list[str] = typer.Argument(..., help=".dvc files or stages from dvc.yaml to remove."),
    outs: bool = typer.Option(False, "--outs", help="Remove outputs as well."),
) -> None:
    """Remove stages from dvc.yaml and/or stop tracking files or directories."""
    remove_tracked(find_root(), Path.cwd(), targets, outs=outs)
