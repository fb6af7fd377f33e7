"""``prefect-dvc artifacts get``: DVC 3's command for registered artifacts (local repositories).

Provides:
    app: the ``artifacts`` command group (registered in ``cli/__init__.py``).
"""

from __future__ import annotations

from pathlib import Path

import typer

from prefect_dvc.cli.output import console
from prefect_dvc.errors import ArtifactError
from prefect_dvc.external import is_url

app = typer.Typer(help="Download artifacts registered in dvc.yaml.", no_args_is_help=True)


@app.command("get")
def get(
    url: str = typer.Argument(..., help="Path of the DVC repository to download from."),
    name: str = typer.Argument(..., help="Name of the artifact ([path/to/dvc.yaml:]name)."),
    rev: str = typer.Option(None, "--rev", help="Artifact version (v1.0.0)."),
    stage: str = typer.Option(None, "--stage", help="Artifact stage (prod)."),
    out: str = typer.Option(None, "-o", "--out", help="Destination path."),
    force: bool = typer.Option(False, "-f", "--force", help="Override an existing output."),
    jobs: int = typer.Option(None, "-j", "--jobs", help="Accepted for DVC compatibility."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Be quiet."),
) -> None:
    """Download an artifact from a DVC project, as 'dvc artifacts get' does."""
    repo = Path(url)
    if is_url(url) or not (repo / ".dvc").is_dir() or not (repo / ".git").exists():
        raise ArtifactError(
            f"'{url}' is no local DVC repository",
            hint="Clone it first (only local repositories are served), then pass its path",
        )
    # NOTE: imported here: it pulls in the plots and revision readers (~0.3 s),
    # which every other command would pay for at start-up.
    from prefect_dvc.artifacts import get_artifact

    count, shown = get_artifact(repo, name, version=rev, stage=stage, out=out, force=force)
    if not quiet:
        console.print(f"Downloaded {count} file(s) to '{shown}'", markup=False, highlight=False)
