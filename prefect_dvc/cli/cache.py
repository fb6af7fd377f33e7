"""``cache verify``: re-hash every object of the local cache or a remote, list the bad ones."""

from __future__ import annotations

import typer

from prefect_dvc.cli.output import console, print_json
from prefect_dvc.errors import ConfigError, CorruptObjectError
from prefect_dvc.project import open_stores_for
from prefect_dvc.repo import find_root
from prefect_dvc.storage.verify import VerifyReport, verify_store

app = typer.Typer(help="Check the cache (DVC has no such command).", no_args_is_help=True)


@app.command("verify")
def verify(
    remote: str = typer.Option(
        None, "-r", "--remote", help="Check this remote's objects instead of the local cache."
    ),
    cloud: bool = typer.Option(False, "-c", "--cloud", help="Check the default remote."),
    jobs: int = typer.Option(None, "-j", "--jobs", help="Objects read at once."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Read every object, compare its bytes with its name, list the bad ones (exit 1 if any).

    A ``.dir`` manifest must also parse, and every file it names must be there.
    """
    if jobs is not None and jobs < 1:
        raise ConfigError(f"-j/--jobs must be at least 1, not {jobs}", hint="Pass -j 1 or more")
    root = find_root()
    use_remote = bool(remote) or cloud
    stores, hasher = open_stores_for(root, remote=remote, use_remote=use_remote, jobs=jobs)
    try:
        if use_remote and stores.remote is None:
            raise ConfigError(
                "no remote to verify: none is configured",
                path=".dvc/config",
                hint="Pass -r <name>, or set a default with: prefect-dvc remote default <name>",
            )
        if stores.remote is not None and use_remote:
            store, label, state = stores.remote.objects, f"remote '{stores.remote.name}'", None
        else:
            store, label, state = stores.local, "local cache", hasher.state
        report = verify_store(store, jobs=jobs, state=state)
    finally:
        hasher.close()
    _print(report, label, store.location.safe_url, as_json)
    if report.bad:
        raise CorruptObjectError(
            f"{len(report.bad)} bad object(s) among {report.checked} checked in the {label}",
            hint="Delete the bad objects and re-run the stages that make them,"
            " or pull them from a good remote",
        )


def _print(report: VerifyReport, label: str, url: str, as_json: bool) -> None:
    if as_json:
        print_json(
            {
                "store": url,
                "checked": report.checked,
                "bad": [
                    {
                        "oid": b.oid,
                        "path": b.path,
                        "problem": b.problem,
                        "expected": b.oid.removesuffix(".dir"),
                        "actual": b.actual or None,
                        "named_by": b.named_by or None,
                    }
                    for b in report.bad
                ],
            }
        )
        return
    for bad in report.bad:
        # NOTE: plain "path<TAB>what" lines for scripts; rich would expand the tab.
        typer.echo(bad.describe())
    if not report.bad:
        console.print(f"{report.checked} object(s) checked in the {label}, 0 bad", markup=False)
