"""Where the CLI writes: results to stdout, diagnostics and errors to stderr.

Provides:
    console, err_console: rich consoles on stdout and stderr.
    print_json(data): machine output.
    print_run(run): the per-stage outcome table of a pipeline run (here, not in
        ``show.py``, so ``repro`` does not import the ``exp show`` stack).
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def print_json(data: Any) -> None:
    """Machine output: plain JSON on stdout, no colours, no wrapping."""
    print(json.dumps(data, indent=2, default=str))


def print_run(run: object) -> None:
    """The per-stage outcome table of a pipeline run, on stderr."""
    from rich.table import Table  # only when a run happened: a no-op repro prints none

    results = getattr(run, "results", {})
    table = Table(show_edge=False, box=None, pad_edge=False)
    table.add_column("Stage")
    table.add_column("Result")
    table.add_column("Time", justify="right")
    colours = {"ran": "cyan", "restored from run-cache": "magenta"}
    for name, result in results.items():
        outcome = result.outcome.value
        colour = colours.get(outcome, "green")
        table.add_row(name, f"[{colour}]{outcome}[/]", f"{result.seconds:.2f}s")
    for name in getattr(run, "failed", {}):
        table.add_row(name, "[red]failed[/]", "")
    for name in getattr(run, "not_run", {}):
        table.add_row(name, "[dim]not run[/]", "")
    err_console.print(table)
