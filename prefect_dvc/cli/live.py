"""A live table of stage states while a pipeline runs in the terminal.

Provides:
    live_stages(enabled): a context manager; while active, stage events
        (``prefect_dvc.progress``) redraw one table on stderr: stage, state,
        time, last line of output.

Only on a terminal: piped or redirected output keeps Prefect's plain log
lines, which are better for CI logs and ``grep``. While the table is shown,
Prefect's *console* log handlers are quieted to warnings so they do not tear
the display; the records still reach the Prefect API (and the UI) through
its API handler.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from prefect_dvc.cli.output import err_console
from prefect_dvc.progress import StageEvent, listening

if TYPE_CHECKING:
    # NOTE: rich's table and live display are imported when a run shows
    # them, not by every repro (a no-op shows none).
    from rich.table import Table
    from rich.text import Text

_COLOURS = {
    "queued": "dim",
    "running": "yellow",
    "ran": "cyan",
    "restored from run-cache": "magenta",
    "up to date": "green",
    "failed": "red",
    "not run": "dim",
}


class _Board:
    def __init__(self) -> None:
        self.rows: dict[str, dict[str, object]] = {}
        self.lock = threading.Lock()
        self.quieted: list[tuple[logging.Handler, int]] = []

    def quiet_console_logs(self) -> None:
        """Prefect configures its handlers when the flow starts: quiet them then."""
        if self.quieted:
            return
        self.quieted = [(h, h.level) for h in _console_handlers()]
        for handler, _ in self.quieted:
            handler.setLevel(logging.WARNING)

    def restore_console_logs(self) -> None:
        for handler, level in self.quieted:
            handler.setLevel(level)

    def update(self, event: StageEvent) -> None:
        self.quiet_console_logs()
        with self.lock:
            row = self.rows.setdefault(event.stage, {"state": "queued", "line": "", "t0": None})
            if event.state == "running" and row["t0"] is None:
                row["t0"] = time.monotonic()
            row["state"] = event.state
            if event.line:
                row["line"] = event.line
            if event.seconds is not None:
                row["seconds"] = event.seconds

    def render(self) -> Table | Text:
        from rich.table import Table
        from rich.text import Text

        if not self.rows:
            return Text("")
        table = Table(show_edge=False, box=None, pad_edge=False)
        table.add_column("Stage", no_wrap=True)
        table.add_column("State", no_wrap=True)
        table.add_column("Time", justify="right", no_wrap=True)
        table.add_column("Output", overflow="ellipsis", no_wrap=True, ratio=1)
        with self.lock:
            for name, row in self.rows.items():
                state = str(row["state"])
                seconds = row.get("seconds")
                if seconds is None and row["t0"] is not None and state == "running":
                    seconds = time.monotonic() - float(row["t0"])  # type: ignore[arg-type]
                shown = f"{seconds:.1f}s" if isinstance(seconds, float) else ""
                colour = _COLOURS.get(state, "white")
                table.add_row(name, f"[{colour}]{state}[/]", shown, str(row["line"]))
        return table


def _console_handlers() -> list[logging.Handler]:
    found: list[logging.Handler] = []
    for name in ("", "prefect", "prefect.flow_runs", "prefect.task_runs"):
        for handler in logging.getLogger(name).handlers:
            if type(handler).__name__ == "PrefectConsoleHandler":
                found.append(handler)
    return found


@contextmanager
def live_stages(enabled: bool) -> Iterator[bool]:
    """Show the live table when ``enabled`` and stderr is a terminal; yields whether shown."""
    if not enabled or not err_console.is_terminal:
        yield False
        return
    from rich.live import Live

    board = _Board()
    try:
        with (
            listening(board.update),
            Live(get_renderable=board.render, console=err_console, refresh_per_second=4),
        ):
            yield True
    finally:
        board.restore_console_logs()
