"""A flow body's :class:`PrefectDvcError` ends the run ``Failed`` with our one line.

Left to Prefect, an exception raised in a flow body is logged twice with a
full traceback ("Encountered exception during execution", "Engine execution
exited with unexpected exception"), which reads like a crash in the UI for
what is a user's mistake (an override of a missing param, a bad target).
Our errors are already one line naming the file and what to do.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec

from prefect.logging import get_run_logger
from prefect.states import Failed, State

from prefect_dvc.errors import PrefectDvcError

P = ParamSpec("P")


def one_line_failures(body: Callable[P, State]) -> Callable[P, State]:
    """Wrap a flow function: a :class:`PrefectDvcError` becomes ``Failed(str(error))``.

    The state's data is the error itself, so ``state.result()`` raises it
    and the CLI prints it as before; the run's log gets one ``ERROR`` line,
    no traceback. Any other exception is a real crash and propagates.
    ``functools.wraps`` keeps the signature, annotations and docstring
    Prefect reads for the flow's parameters.
    """

    @functools.wraps(body)
    def run(*args: P.args, **kwargs: P.kwargs) -> State:
        try:
            return body(*args, **kwargs)
        except PrefectDvcError as error:
            get_run_logger().error("%s", error)
            return Failed(message=str(error), data=error)

    return run
