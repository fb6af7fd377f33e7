"""Settle what killed runs left behind, before any command of a project runs.

Provides:
    reconcile(command): find the project of the current folder (if any),
        read its run records and, only when one belongs to a dead process of
        this host, import Prefect to mark that flow run ``Crashed`` and put
        its queue entry back (``flows/lifecycle.py``).

The common case (no record, or only live ones) costs a directory listing
and never imports Prefect, so read-only commands stay Prefect-free.
"""

from __future__ import annotations

from prefect_dvc.cli.output import err_console
from prefect_dvc.errors import ConfigError
from prefect_dvc.repo import find_root
from prefect_dvc.runrecord import dead_records


def reconcile(command: str) -> None:
    """Settle the dead runs of the project around the current folder; print what was done."""
    try:
        root = find_root()
    except ConfigError:
        return  # not in a project: nothing of ours to settle
    dead = dead_records(root)
    if not dead:
        return
    # NOTE: Prefect is imported only here, when a dead run must be reported.
    from prefect_dvc.flows.lifecycle import settle_dead_records

    for line in settle_dead_records(root, dead, command):
        err_console.print(f"WARNING: {line}", markup=False, highlight=False, soft_wrap=True)
