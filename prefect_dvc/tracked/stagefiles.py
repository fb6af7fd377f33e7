"""Dropping one stage from ``dvc.yaml`` and ``dvc.lock``, as DVC's ``remove_stage``.

Provides:
    remove_stage(dvcyaml, lock, name): delete the stage's definition and lock
        entry with a round-trip edit (comments, key order and flow style of
        the rest kept); a file left with no stage is deleted
        (``ProjectFile.remove_stage``, ``Lockfile.remove_stage`` in ``dvc/dvcfile.py``).
    is_parametrized(dvcyaml, name): a generated or templated stage DVC will not edit.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from ruamel.yaml.comments import CommentedMap

from prefect_dvc.yamlio import _dumper, atomic_write, parse_yaml


def _drop(path: Path, name: str) -> None:
    if not path.is_file():
        return
    dumper = _dumper()
    data = dumper.load(path.read_text(encoding="utf-8"))
    stages = data.get("stages") if isinstance(data, CommentedMap) else None
    if not isinstance(stages, CommentedMap) or name not in stages:
        return
    del stages[name]
    if not stages:
        path.unlink()
        return
    stream = io.StringIO()
    dumper.dump(data, stream)
    atomic_write(path, stream.getvalue())


def remove_stage(dvcyaml: Path, lock: Path, name: str) -> None:
    """Remove stage ``name`` from ``lock`` then ``dvcyaml`` (DVC's order)."""
    _drop(lock, name)
    _drop(dvcyaml, name)


def is_parametrized(dvcyaml: Path, name: str) -> bool:
    """Whether stage ``name`` comes from ``foreach``/``matrix`` or uses ``${...}``.

    DVC refuses to edit such a stage (``ProjectFile._check_if_parametrized``):
    its definition is not its own to rewrite.
    """
    data = parse_yaml(dvcyaml.read_text(encoding="utf-8"), str(dvcyaml))
    stages = data.get("stages") if isinstance(data, dict) else None
    if not isinstance(stages, dict) or name not in stages:
        return True
    return "${" in json.dumps(stages[name], default=str)
