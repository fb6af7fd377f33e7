"""Where the CLI writes: results to stdout, diagnostics and errors to stderr.

Provides:
    console, err_console: rich consoles on stdout and stderr.
    print_json(data): machine output.
    print_block(text, markdown): a rendered table, with DVC's trailing blank lines.
    print_run(run): the per-stage outcome table of a pipeline run (here, not in
        ``show.py``, so ``repro`` does not import the ``exp show`` stack).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def print_json(data: Any) -> None:
    """Machine output: plain JSON on stdout, no colours, no wrapping.

    Compact on one line when stdout is not a terminal and indented by 2 on a
    terminal, as DVC's ``ui.write_json`` (``dvc/ui/__init__.py``) writes it.
    """
    print(json.dumps(data, indent=2 if sys.stdout.isatty() else None, default=str))


def print_block(text: str, *, markdown: bool = False) -> None:
    """A rendered table (``text`` ends with a newline) as DVC writes it.

    DVC's ``ui.table`` leaves no blank line after a plain table and one after
    a Markdown table (``dvc/ui/table.py``).
    """
    print(text, end="\n" if markdown else "")


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
