"""``dvc.lock`` read and checked against DVC 3's lock schema, with line numbers.

Provides:
    parse_lock(text, display): stage name -> entry of a ``dvc.lock`` text, or
        a one-line :class:`~prefect_dvc.errors.SchemaError` (file, line,
        stage, what) for a file DVC itself would refuse.

The rules are DVC's ``LOCKFILE_SCHEMA`` (``dvc/schema.py``): ``schema:
'2.0'``; ``stages`` a mapping of names to entries with a required ``cmd``
(a string or a list of strings), ``deps``/``outs`` lists of mappings each
with a string ``path`` (and typed ``md5``/``hash``/``size``/``nfiles``...),
``params`` a mapping of files to mappings. Every consumer of lock entries
(status, hashes, collect, push) can then index them without guarding.
Line numbers come from a round-trip parse done only when something is wrong:
the lock of a large pipeline is read after every finished stage.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from prefect_dvc.errors import SchemaError
from prefect_dvc.translators.dvcyaml import line_map
from prefect_dvc.yamlio import parse_yaml

LOCK_SCHEMA = "2.0"
Entry = dict[str, Any]
At = tuple[Any, ...]

_HINT_FILE = "Restore it from Git, or delete it and run 'prefect-dvc repro' to write a new one"
_HINT_STAGE = (
    "Restore the file from Git, or delete the stage's entry and run 'prefect-dvc repro' "
    "to write it again"
)
_ENTRY_KEYS = ("cmd", "deps", "params", "outs")
# NOTE: DVC's DATA_SCHEMA fields and their types (CHECKSUMS/META/CLOUD schemas).
_DATA_FIELDS: dict[str, type | tuple[type, ...]] = {
    "path": str,
    "hash": str,
    "md5": (str, type(None)),
    "etag": (str, type(None)),
    "checksum": (str, type(None)),
    "size": int,
    "nfiles": int,
    "isexec": bool,
    "version_id": str,
    "files": list,
    "cloud": dict,
    "dataset": (dict, type(None)),
}


class _Invalid(Exception):
    def __init__(self, msg: str, at: At) -> None:
        super().__init__(msg)
        self.msg = msg
        self.at = at


def _type_ok(value: Any, types: type | tuple[type, ...]) -> bool:
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        return False
    return isinstance(value, types)


def _check_data(item: Any, at: At) -> None:
    if not isinstance(item, Mapping):
        raise _Invalid(f"expected a mapping with 'path', got {type(item).__name__}", at)
    if "path" not in item:
        raise _Invalid("missing required key 'path'", at)
    for key, value in item.items():
        types = _DATA_FIELDS.get(key)
        if types is None:
            raise _Invalid(f"unknown key '{key}'", (*at, key))
        if not _type_ok(value, types):
            raise _Invalid(f"'{key}' has the wrong type ({type(value).__name__})", (*at, key))


def _check_entry(name: Any, entry: Any) -> None:
    at: At = ("stages", name)
    if not isinstance(name, str):
        raise _Invalid(f"a stage name must be a string, got {type(name).__name__}", at)
    if not isinstance(entry, Mapping):
        raise _Invalid(f"expected a mapping (cmd, deps, ...), got {type(entry).__name__}", at)
    for key in entry:
        if key not in _ENTRY_KEYS:
            raise _Invalid(f"unknown key '{key}'", (*at, key))
    if "cmd" not in entry:
        raise _Invalid("missing required key 'cmd'", at)
    cmd = entry["cmd"]
    if not isinstance(cmd, str) and not (
        isinstance(cmd, list) and all(isinstance(c, str) for c in cmd)
    ):
        raise _Invalid("'cmd' must be a string or a list of strings", (*at, "cmd"))
    for key in ("deps", "outs"):
        items = entry.get(key, [])
        if not isinstance(items, list):
            raise _Invalid(f"'{key}' must be a list, got {type(items).__name__}", (*at, key))
        for index, item in enumerate(items):
            _check_data(item, (*at, key, index))
    params = entry.get("params", {})
    if not isinstance(params, Mapping):
        raise _Invalid("'params' must be a mapping of params files", (*at, "params"))
    for file, values in params.items():
        if not isinstance(file, str) or not isinstance(values, Mapping):
            raise _Invalid(
                f"params of '{file}' must be a mapping of keys to values", (*at, "params", file)
            )


def _check(data: Any) -> dict[str, Entry]:
    if not isinstance(data, Mapping):
        raise _Invalid(f"expected a mapping, got {type(data).__name__}", ())
    if str(data.get("schema")) != LOCK_SCHEMA:
        raise _Invalid(f"not a schema '{LOCK_SCHEMA}' lock file", ("schema",))
    for key in data:
        if key not in ("schema", "stages", "datasets"):
            raise _Invalid(f"unknown key '{key}'", (key,))
    stages = data.get("stages")
    if stages is None:
        return {}
    if not isinstance(stages, Mapping):
        raise _Invalid(
            f"'stages' must be a mapping of stage names, got {type(stages).__name__}", ("stages",)
        )
    for name, entry in stages.items():
        _check_entry(name, entry)
    return {name: dict(entry) for name, entry in stages.items()}


def _line_of(text: str, display: str) -> Callable[[At], int | None]:
    lines = line_map(text, display)

    def find(at: At) -> int | None:
        while at:
            if at in lines:
                return lines[at]
            at = at[:-1]
        return 1

    return find


def parse_lock(text: str, display: str = "dvc.lock") -> dict[str, Entry]:
    """Stage name -> entry of the ``dvc.lock`` text ``text`` (named ``display``).

    An empty (or falsy: ``[]``, ``false``) file has no entries.

    Raises:
        YamlSyntaxError: not YAML (with the line).
        SchemaError: not a lock file DVC 3 accepts, naming the line and stage.
    """
    data = parse_yaml(text, display)
    if not data:
        return {}  # NOTE: DVC reads ``load(text) or {}`` and has no entries then
    try:
        return _check(data)
    except _Invalid as exc:
        stage = exc.at[1] if len(exc.at) > 1 else None
        raise SchemaError(
            exc.msg,
            path=display,
            line=_line_of(text, display)(exc.at),
            stage=str(stage) if stage is not None else None,
            hint=_HINT_FILE if stage is None else _HINT_STAGE,
        ) from None
