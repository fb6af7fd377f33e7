"""``status`` as text, line for line as ``dvc status`` prints it.

DVC renders its status JSON with ``CmdDataStatus._show``
(``dvc/commands/status.py``): a stage name ends with ``:``, each level below
is one more tab, a ``{path: change}`` pair is the change padded to 20
columns followed by the path, and a bare string ("always changed", "changed
command") stands on its own line. Rendering the same JSON the same way keeps
a user's scripts and habits working.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from prefect_dvc.translators.pipeline import StageSpec

#: ``CmdDataStatus.UP_TO_DATE_MSG``.
UP_TO_DATE = "Data and pipelines are up to date."
#: ``CmdDataStatus.EMPTY_PROJECT_MSG``.
EMPTY_PROJECT = (
    "There are no data or pipelines tracked in this project yet.\n"
    "See <https://dvc.org/doc/start> to get started!"
)
_WIDTH = 20  # CmdDataStatus.STATUS_LEN


def status_lines(data: Mapping[str, Any], indent: int = 0) -> list[str]:
    """DVC's text lines for ``status --json`` data (``CmdDataStatus._show``).

    Args:
        data: ``{stage: [{"changed deps": {...}}, "always changed", ...]}`` as
            :func:`prefect_dvc.status.status_json` returns it, in print order.
        indent: starting depth in tabs (DVC uses 1 for ``status --cloud``).

    Returns:
        The lines without newlines; empty when nothing changed.
    """
    return list(_show(data, indent))


def frozen_warnings(names: Iterable[str], stages: Mapping[str, StageSpec]) -> list[str]:
    """DVC's warning for each frozen stage among ``names`` (``dvc/repo/status.py``)."""
    return [
        f"WARNING: stage: '{name}' is frozen. Its dependencies are not going to be "
        "shown in the status output."
        for name in names
        if stages[name].frozen
    ]


def _show(status: Any, indent: int) -> Iterable[str]:
    tabs = "\t" * indent
    if isinstance(status, str):
        yield f"{tabs}{status}"
    elif isinstance(status, list):
        for entry in status:
            yield from _show(entry, indent)
    else:
        for key, value in status.items():
            if isinstance(value, str):
                yield f"{tabs}{(value + ':').ljust(_WIDTH)}{key}"
            elif value:
                yield f"{tabs}{key}:"
                yield from _show(value, indent + 1)
