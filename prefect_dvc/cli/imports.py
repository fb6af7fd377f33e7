"""``import-url``, ``import`` and ``update`` (DVC 3.67.1's options; the refused ones say why)."""

from __future__ import annotations

from pathlib import Path

import typer

# NOTE: DVC's logger prints its info lines (Importing, skipping) on stdout
from prefect_dvc.cli.output import console
from prefect_dvc.errors import ConfigError
from prefect_dvc.imports.repo import ImportOptions, import_repo
from prefect_dvc.imports.target import Imported, git_add_hint
from prefect_dvc.imports.update import UpdateOptions, update_imports
from prefect_dvc.imports.url import ImportUrlOptions, import_url
from prefect_dvc.locks import cache_reader, locked_workspace
from prefect_dvc.repo import find_root

JOBS = typer.Option(None, "-j", "--jobs", help="Files to hash or copy at once.")
NO_EXEC = typer.Option(False, "--no-exec", help="Only write the .dvc file, without hashes.")
NO_DOWNLOAD = typer.Option(
    False, "--no-download", help="Record the source's hash in the .dvc file, do not download."
)
FORCE = typer.Option(False, "-f", "--force", help="Replace the out if it exists.")
TO_REMOTE = typer.Option(False, "--to-remote", hidden=True)
REMOTE = typer.Option(None, "-r", "--remote", hidden=True)
QUIET = typer.Option(False, "-q", "--quiet", help="Print nothing but errors.")


def register(app: typer.Typer) -> None:
    app.command("import-url")(import_url_cmd)
    app.command("import")(import_cmd)
    app.command("update")(update_cmd)


def _check_jobs(jobs: int | None) -> None:
    if jobs is not None and jobs < 1:
        raise ConfigError(f"-j/--jobs must be at least 1, not {jobs}", hint="Pass -j 1 or more")


def _refuse(option: str, why: str) -> None:
    raise ConfigError(f"{option} is not supported by prefect-dvc: {why}", hint="Drop the option")


def _done(imported: Imported, quiet: bool) -> None:
    if not quiet:
        out = imported.target.out
        console.print(f"Importing '{imported.source}' -> '{out}'", markup=False, soft_wrap=True)
        # NOTE: plain echo: rich would expand the hint's tab, which DVC prints as is
        typer.echo(git_add_hint(imported, Path.cwd()))


@locked_workspace
def import_url_cmd(
    url: str = typer.Argument(..., help="Local path, file://, s3:// or http(s):// URL."),
    out: str = typer.Argument(None, help="Destination path (default: the source's name)."),
    no_exec: bool = NO_EXEC,
    no_download: bool = NO_DOWNLOAD,
    force: bool = FORCE,
    jobs: int = JOBS,
    to_remote: bool = TO_REMOTE,
    remote: str = REMOTE,
    version_aware: bool = typer.Option(False, "--version-aware", hidden=True),
    fs_config: list[str] = typer.Option(None, "--fs-config", hidden=True),
    quiet: bool = QUIET,
) -> None:
    """Download or copy a file or folder from a URL and track it with a .dvc file."""
    if to_remote or remote:
        _refuse("--to-remote/--remote", "imports always go through the local cache")
    if version_aware:
        _refuse("--version-aware", "cloud-versioned imports are not tracked yet")
    if fs_config:
        _refuse("--fs-config", "URL credentials come from the environment (AWS_* for s3://)")
    _check_jobs(jobs)
    root = find_root()
    options = ImportUrlOptions(no_exec=no_exec, no_download=no_download, force=force, jobs=jobs)
    with cache_reader(root):
        imported = import_url(root, url, out, options, cwd=Path.cwd())
    _done(imported, quiet)


@locked_workspace
def import_cmd(
    url: str = typer.Argument(..., help="Git repository: a path, file:// or any Git URL."),
    path: str = typer.Argument(..., help="Path of a file or folder in that repository."),
    out: str = typer.Option(None, "-o", "--out", help="Destination path."),
    rev: str = typer.Option(None, "--rev", help="Git revision (branch, tag, commit)."),
    no_exec: bool = NO_EXEC,
    no_download: bool = NO_DOWNLOAD,
    force: bool = FORCE,
    jobs: int = JOBS,
    config: str = typer.Option(None, "--config", hidden=True),
    remote: str = typer.Option(None, "--remote", hidden=True),
    remote_config: list[str] = typer.Option(None, "--remote-config", hidden=True),
    quiet: bool = QUIET,
) -> None:
    """Download a file or folder tracked by DVC or Git in another repository, and track it."""
    if config or remote or remote_config:
        _refuse("--config/--remote/--remote-config", "the source's own default remote is used")
    _check_jobs(jobs)
    root = find_root()
    options = ImportOptions(
        out=out, rev=rev, no_exec=no_exec, no_download=no_download, force=force, jobs=jobs
    )
    with cache_reader(root):
        imported = import_repo(root, url, path, options, cwd=Path.cwd())
    _done(imported, quiet)


@locked_workspace
def update_cmd(
    targets: list[str] = typer.Argument(..., help=".dvc files of imports (or their outs)."),
    rev: str = typer.Option(None, "--rev", help="Git revision a repository import moves to."),
    recursive: bool = typer.Option(
        False, "-R", "--recursive", help="Targets are folders: every import under them."
    ),
    no_download: bool = typer.Option(
        False, "--no-download", help="Record the new hashes or revision, do not download."
    ),
    jobs: int = JOBS,
    to_remote: bool = TO_REMOTE,
    remote: str = REMOTE,
    quiet: bool = QUIET,
) -> None:
    """Re-check imports' sources and bring what changed into the workspace."""
    if to_remote or remote:
        _refuse("--to-remote/--remote", "imports always go through the local cache")
    _check_jobs(jobs)
    root = find_root()
    options = UpdateOptions(rev=rev, recursive=recursive, no_download=no_download, jobs=jobs)
    with cache_reader(root):
        results = update_imports(root, targets, options, cwd=Path.cwd())
    for result in results:
        if quiet:
            continue
        if result.changed:
            console.print(
                f"Importing '{result.source}' -> '{result.out}'", markup=False, soft_wrap=True
            )
        else:
            console.print(f"'{result.dvcfile}' didn't change, skipping", markup=False)
