"""typer's option coercion, without importing pydantic for options left unset.

Provides:
    install(): make typer build an option's pydantic coercion only when the
        option has a value; a no-op with a typer that works differently.

Why: typer 0.29 coerces every non-flag option and argument through a
pydantic ``TypeAdapter`` (``typer/_coercion.py``, ``build_runtime_param``),
built before it looks at the value, so a bare ``prefect-dvc repro`` or
``status`` (``targets``/``jobs`` unset) imported pydantic: ~50 ms of a
~350 ms no-op (``python -X importtime``). For an unset value typer's own
``RuntimeParam.coerce`` returns ``()`` (a multi-value parameter) or ``None``
without using the adapter; :class:`_OnFirstValue` returns the same and
hands every real value to typer's coercion, so errors and values are typer's.
"""

from __future__ import annotations

from typing import Any

import typer.core

_build = getattr(typer.core, "build_runtime_param", None)


class _OnFirstValue:
    """typer's runtime parameter for one descriptor, built when a value arrives."""

    def __init__(self, descriptor: Any) -> None:
        self._descriptor = descriptor
        self._built: Any = None

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        if value is None:
            # NOTE: typer's RuntimeParam.coerce, its first branch, verbatim.
            return () if (param.multiple or param.nargs == -1) else None
        if self._built is None:
            assert _build is not None
            self._built = _build(self._descriptor)
        return self._built.coerce(value, param=param, ctx=ctx)


def install() -> None:
    """Route typer's ``build_runtime_param`` through :class:`_OnFirstValue` (once)."""
    parameter = getattr(typer.core, "_TyperParameter", None)
    if _build is None or parameter is None or not hasattr(parameter, "get_runtime_param"):
        return  # another typer: its own coercion stays as it is
    typer.core.build_runtime_param = _OnFirstValue  # type: ignore[attr-defined]
