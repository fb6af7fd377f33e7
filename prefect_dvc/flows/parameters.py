"""Flow parameters sent to the API without importing FastAPI.

Provides:
    plain_json_parameters(flow): make ``flow`` serialize parameters that are
        already plain JSON (``str``, ``int``, ``float``, ``bool``, ``None``,
        lists/tuples and ``str``-keyed dicts of those) by copying them, and
        hand anything else to Prefect's own ``Flow.serialize_parameters``.

Why: Prefect 3.9 builds every flow run's parameters with FastAPI's
``jsonable_encoder`` (``prefect/flows.py``, ``Flow.serialize_parameters``),
and importing ``fastapi.encoders`` costs 0.3-0.5 s of each ``exp run`` and
``repro`` process on this machine (``python -X importtime``). Our flows take
only plain JSON values, for which ``jsonable_encoder`` returns an equal copy
(tuples become lists), so the flow run the server records is the same.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

F = TypeVar("F")

_SCALARS = (str, int, float, bool, type(None))


class _NotPlain(Exception):
    """A value ``jsonable_encoder`` must see (a model, a path, a future, a state...)."""


def _plain_copy(value: Any) -> Any:
    """``value`` as ``jsonable_encoder`` returns it, for plain JSON values only.

    Raises:
        _NotPlain: ``value`` holds anything else.
    """
    if isinstance(value, _SCALARS):
        return value
    if type(value) in (list, tuple):
        return [_plain_copy(item) for item in value]
    if type(value) is dict and all(isinstance(key, str) for key in value):
        return {key: _plain_copy(item) for key, item in value.items()}
    raise _NotPlain


def plain_json_parameters(flow: F) -> F:
    """Give ``flow`` (a Prefect ``Flow``) a ``serialize_parameters`` that skips FastAPI.

    The replacement is an instance attribute (a flow made by
    ``Flow.with_options`` has Prefect's own again); any non-plain value falls
    back to Prefect's method for the whole call.

    Returns:
        ``flow`` itself.
    """
    target: Any = flow
    prefect_serialize: Callable[[Mapping[str, Any]], dict[str, Any]] = target.serialize_parameters

    def serialize_parameters(parameters: Mapping[str, Any]) -> dict[str, Any]:
        try:
            return {key: _plain_copy(value) for key, value in parameters.items()}
        except _NotPlain:
            return prefect_serialize(parameters)

    target.serialize_parameters = serialize_parameters
    return flow
