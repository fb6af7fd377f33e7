"""The stage ``md5`` of an import's ``.dvc`` file, as DVC 3.67.1 computes it.

Provides:
    stage_md5(data): md5 of the file's dict without the keys DVC leaves out.

DVC (``dvc/stage/utils.py::compute_md5`` over ``Stage.dumpd``): drop the
top-level ``md5``, ``meta`` and ``desc`` and a ``wdir`` of ``"."``, then take
``dvc.utils.dict_md5``: the md5 of ``json.dumps(d, sort_keys=True)`` after
removing, at every depth, the annotation keys (``desc, type, labels, meta``),
``locked``, ``frozen``, ``metric``, ``persist``, ``isexec``, ``size`` and
``nfiles``. So a file's md5 survives freezing, re-annotating and the meta
DVC adds later; it changes with any hash, path or ``repo`` field.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

_TOP_DROPPED = ("md5", "meta", "desc")
_EXCLUDED = frozenset(
    {
        "desc", "type", "labels", "meta",  # ANNOTATION_FIELDS (dvc/annotations.py)
        "locked", "frozen", "metric", "persist", "isexec", "size", "nfiles",
    }
)  # fmt: skip


def stage_md5(data: Mapping[str, Any]) -> str:
    """The ``md5`` DVC writes at the top of an import's ``.dvc`` file.

    Args:
        data: the file's top-level mapping (``frozen``, ``deps``, ``outs``...),
            with or without its current ``md5``.

    Returns:
        32 lowercase hex digits.
    """
    stage = {k: v for k, v in data.items() if k not in _TOP_DROPPED}
    if stage.get("wdir") == ".":
        del stage["wdir"]
    text = json.dumps(_filtered(stage), sort_keys=True)
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def _filtered(value: Any) -> Any:
    if isinstance(value, list):
        return [_filtered(item) for item in value]
    if isinstance(value, Mapping):
        return {k: _filtered(v) for k, v in value.items() if k not in _EXCLUDED}
    return value
