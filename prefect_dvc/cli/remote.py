"""``remote add/modify/list/remove/default``: DVC remotes in ``.dvc/config``."""

from __future__ import annotations

from pathlib import Path

import typer

from prefect_dvc import config
from prefect_dvc.cli.output import console
from prefect_dvc.redact import redact
from prefect_dvc.repo import find_root

app = typer.Typer(
    help="Manage DVC remotes (.dvc/config, as 'dvc remote' does).", no_args_is_help=True
)


@app.command("add")
def add(
    name: str,
    url: str,
    default: bool = typer.Option(False, "-d", "--default", help="Make it the default remote."),
    force: bool = typer.Option(False, "-f", "--force", help="Replace an existing remote."),
) -> None:
    """Add a remote: a local path, s3://bucket/prefix, ..."""
    root = find_root()
    config.add_remote(root, name, url, default=default, force=force, cwd=Path.cwd())
    suffix = " (default)" if default else ""
    console.print(f"Added remote '{name}' -> {config.redact_url(url)}{suffix}")


@app.command("modify")
def modify(
    name: str,
    key: str,
    value: str = typer.Argument("", help="The new value (omit with --unset)."),
    local: bool = typer.Option(False, "--local", help="Write to .dvc/config.local."),
    unset: bool = typer.Option(False, "-u", "--unset", help="Remove the option."),
) -> None:
    """Set an option of a remote (endpointurl, region, profile, access_key_id, ...)."""
    root = find_root()
    written = config.modify_remote(root, name, key, value, local=local, unset=unset)
    if not local and not unset and written.name == config.CONFIG_LOCAL:
        typer.echo(
            f"WARNING: '{key}' is a credential: written to .dvc/config.local (Git ignores it),"
            " not .dvc/config; pass --local to say so",
            err=True,
        )
    # NOTE: a URL value may carry user info or a token (url, endpointurl): redacted too.
    shown = "***" if config.is_secret_option(key) else redact(value)
    action = f"Unset '{key}'" if unset else f"Set '{key}' = {shown}"
    console.print(f"{action} for remote '{name}' in {written.relative_to(root)}")


@app.command("list")
def list_() -> None:
    """List remotes: name, URL (credentials never shown), default marker.

    Plain ``name<TAB>url`` lines as DVC prints them, so scripts can split them
    (rich would expand the tab).
    """
    cfg = config.load_config(find_root())
    for remote in cfg.remotes:
        marker = "  (default)" if remote.name == cfg.default_remote else ""
        typer.echo(f"{remote.name}\t{remote.safe_url}{marker}")


@app.command("remove")
def remove(name: str) -> None:
    """Remove a remote from .dvc/config and .dvc/config.local."""
    config.remove_remote(find_root(), name)
    console.print(f"Removed remote '{name}'")


@app.command("default")
def default(
    name: str = typer.Argument(None),
    unset: bool = typer.Option(False, "-u", "--unset", help="Unset default remote."),
) -> None:
    """Set/unset the default data remote; with no NAME, print it (as 'dvc remote default').

    Follows ``dvc/commands/remote.py::CmdRemoteDefault``: ``--unset`` removes
    ``core.remote`` silently (a NAME with it is ignored); no NAME prints the
    default, or ``No default remote set`` with exit code 1.
    """
    root = find_root()
    if unset:
        config.unset_default_remote(root)
        return
    if name is None:
        current = config.load_config(root).default_remote
        typer.echo(current or "No default remote set")
        if not current:
            # NOTE: not typer.Exit: main() runs click without standalone mode, which returns it as 0
            raise SystemExit(1)
        return
    config.set_default_remote(root, name)  # NOTE: silent, as DVC
