"""Where the CLI writes: results to stdout, diagnostics and errors to stderr."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def print_json(data: Any) -> None:
    """Machine output: plain JSON on stdout, no colours, no wrapping."""
    print(json.dumps(data, indent=2, default=str))
