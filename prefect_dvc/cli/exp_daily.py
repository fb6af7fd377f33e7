"""``exp save``, ``exp rename``, ``exp clean`` and ``queue kill``: the daily commands DVC 3 has.

Registered on the ``exp`` and ``queue`` groups of :mod:`prefect_dvc.cli.exp`
by :func:`register` (one line in ``cli/__init__.py``), so that module stays
about running experiments.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from prefect_dvc.cli.output import console
from prefect_dvc.experiments import manage
from prefect_dvc.experiments.queue import Queue, clean_finished, kill_entries
from prefect_dvc.experiments.save import save_experiment
from prefect_dvc.locks import locked, locked_workspace
from prefect_dvc.redact import redact
from prefect_dvc.repo import find_root


def register(exp_app: typer.Typer, queue_app: typer.Typer) -> None:
    """Add ``save``, ``rename`` and ``clean`` to ``exp_app`` and ``kill`` to ``queue_app``."""
    exp_app.command("save")(save)
    exp_app.command("rename")(rename)
    exp_app.command("clean")(clean)
    queue_app.command("kill")(queue_kill)


def _say(text: str) -> None:
    console.print(redact(text), soft_wrap=True)


@locked_workspace
def save(
    name: str = typer.Option(None, "-n", "--name", help="Experiment name (default: generated)."),
    include_untracked: list[str] = typer.Option(
        None, "-I", "--include-untracked", help="Also commit this untracked path."
    ),
    message: str = typer.Option(None, "-m", "--message", help="Experiment commit message."),
    force: bool = typer.Option(False, "-f", "--force", help="Replace an experiment of that name."),
    as_json: bool = typer.Option(False, "--json", help='Print {"ref": <commit>}.'),
) -> None:
    """Save the workspace as an experiment without running the pipeline (as 'dvc exp save')."""
    root = find_root()
    saved = save_experiment(
        root,
        name=name,
        include=include_untracked or [],
        message=message,
        force=force,
        cwd=Path.cwd(),
    )
    if saved.left_out:
        # NOTE: print, not rich: DVC's warning indents the list with a real tab
        print(
            "WARNING: The following untracked files were present in the workspace before "
            "saving but will not be included in the experiment commit:\n\t"
            + ", ".join(saved.left_out),
            file=sys.stderr,
        )
    if as_json:
        print(json.dumps({"ref": saved.commit}))  # one line, as DVC's ui.write_json
        return
    _say(f"Experiment has been saved as: {saved.name}")


@locked
def rename(
    exp_name: str,
    new_name: str,
    force: bool = typer.Option(False, "-f", "--force", help="Replace an experiment of that name."),
) -> None:
    """Rename an experiment (same baseline, same commit), as 'dvc exp rename'."""
    if exp_name == new_name:
        _say("No experiments to rename.")
        return
    manage.rename_experiment(find_root(), exp_name, new_name, force=force)
    _say(f"Renamed experiments: '{exp_name}'")


def clean() -> None:
    """Remove the queue's records of finished experiments (DVC: dvc-task messages)."""
    _say("Cleaning up queue messages...")
    removed = clean_finished(Queue(find_root()))
    if removed:
        _say(f"Removed {len(removed)} finished entr{'y' if len(removed) == 1 else 'ies'}.")
    _say("Done!")


def queue_kill(
    names: list[str] = typer.Argument(..., help="Running queued experiments to stop."),
    force: bool = typer.Option(False, "-f", "--force", help="SIGKILL instead of SIGINT."),
) -> None:
    """Stop running queued experiments (Ctrl-C for them; -f kills at once), as 'dvc queue kill'."""
    killed = kill_entries(Queue(find_root()), names, force=force)
    _say(f"{'Killed' if force else 'Interrupted'}: {', '.join(killed)}")
