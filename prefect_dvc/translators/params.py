"""Params files and the ``params:`` section of a stage's ``dvc.lock`` entry.

Provides:
    read_params_file(path, display): a params file as a dict (YAML 1.2, JSON,
        TOML or Python literals, chosen by suffix as DVC does).
    get_key(data, dotted): a value by dotted key path (``train.lr``, ``layers.0``).
    has_key(data, dotted): whether that key path exists.
    params_lock_values(root, stage): the stage's lock ``params`` exactly as
        DVC writes them (``formats.md`` sections 1.4 and 2.1).
    read_stage_params(root, stage), StageParams: the same values without
        failing on a missing file or key (``status`` reports those as DVC does).

Why our own readers: the values end up in ``dvc.lock`` and in run-cache keys,
so they must equal DVC's byte for byte; PyYAML (YAML 1.1) would read ``yes``,
``1e3`` and ``010`` differently, and importing a ``.py`` params file would run
user code, where DVC only reads literal assignments.
"""

from __future__ import annotations

import ast
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefect_dvc.errors import ParamsError, PrefectDvcError
from prefect_dvc.translators.pipeline import StageSpec
from prefect_dvc.yamlio import parse_yaml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

DEFAULT_PARAMS_FILE = "params.yaml"
_MISSING = object()  # "no default given" for get_key
_ABSENT = object()  # what get_key returns for a missing key when asked to


def read_params_file(path: Path, display: str) -> dict[str, Any]:
    """Read the params file at ``path`` (named ``display`` in errors).

    ``.json``, ``.toml`` and ``.py`` have their own readers; everything else
    (``.yaml``, ``.yml`` and unknown suffixes) is YAML 1.2. A file whose whole
    content is falsy (empty, ``null``, ``[]``, ``false``, ``0``, ``""``) is
    ``{}``, as DVC's parsers return ``load(text) or {}``.

    Raises:
        ParamsError: the file is missing, unreadable, or not a mapping.
        YamlSyntaxError: a YAML file that does not parse.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParamsError(
            f"params file '{display}' does not exist",
            path=display,
            hint=f"Create {display}, or remove it from the stage's params",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ParamsError(
            f"cannot read params file: {exc}", path=display, hint="Check the file"
        ) from None
    suffix = path.suffix.lower()
    if suffix == ".json":
        data = _parse_json(text, display)
    elif suffix == ".toml":
        data = _parse_toml(text, display)
    elif suffix == ".py":
        data = _parse_py(text, display)
    else:
        data = parse_yaml(text, display)
    # NOTE: DVC's parse_yaml/parse_json end in ``or {}``: any falsy document is empty.
    data = data or {}
    if not isinstance(data, dict):
        raise ParamsError(
            f"expected a mapping of params, got {type(data).__name__}",
            path=display,
            hint="Put the params under named keys",
        )
    return data


def _parse_json(text: str, display: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParamsError(
            f"invalid JSON: {exc.msg}", path=display, line=exc.lineno, hint="Fix the JSON syntax"
        ) from None


def _parse_toml(text: str, display: str) -> Any:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ParamsError(
            f"invalid TOML: {exc}", path=display, hint="Fix the TOML syntax"
        ) from None


def _parse_py(text: str, display: str) -> dict[str, Any]:
    try:
        tree = ast.parse(text, filename=display)
    except SyntaxError as exc:
        raise ParamsError(
            f"invalid Python: {exc.msg}", path=display, line=exc.lineno, hint="Fix the syntax"
        ) from None
    return _py_body(tree.body, self_only=False)


def _py_body(body: list[ast.stmt], self_only: bool) -> dict[str, Any]:
    """Literal assignments of a module or class body, as DVC reads ``.py`` params.

    Classes become nested dicts; a class's ``__init__`` contributes its
    ``self.x = <literal>`` assignments. Anything that is not a literal is skipped.
    """
    result: dict[str, Any] = {}
    for node in body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = [node.target] if isinstance(node, ast.AnnAssign) else node.targets
            name = py_assign_name(targets, self_only)
            if name is None or node.value is None:
                continue
            try:
                result[name] = _tuples_as_lists(ast.literal_eval(node.value))
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                continue
        elif isinstance(node, ast.ClassDef):
            result[node.name] = _py_body(node.body, self_only=False)
        elif isinstance(node, ast.FunctionDef) and node.name == "__init__":
            result.update(_py_body(node.body, self_only=True))
    return result


def _tuples_as_lists(value: Any) -> Any:
    """Tuples (at any depth) as lists: ``dvc.lock`` holds them as YAML lists.

    DVC compares a top-level tuple with the locked list as equal but a nested
    one as "modified" forever (``ParamsDependency.workspace_status``); reading
    every tuple as the list it is stored as makes both equal.
    """
    if isinstance(value, (tuple, list)):
        return [_tuples_as_lists(v) for v in value]
    if isinstance(value, dict):
        return {k: _tuples_as_lists(v) for k, v in value.items()}
    return value


def py_assign_name(targets: list[ast.expr], self_only: bool) -> str | None:
    """The name an assignment in a ``.py`` params file binds (``x = ``, ``self.x = ``), or ``None``.

    DVC's ``dvc/utils/serialize/_py.py`` reads module-level names, class
    attributes and ``self.`` attributes set in ``__init__`` (``self_only``).
    """
    if len(targets) != 1:
        return None
    target = targets[0]
    if isinstance(target, ast.Name) and not self_only:
        return target.id
    if (
        isinstance(target, ast.Attribute)
        and isinstance(target.value, ast.Name)
        and target.value.id == "self"
    ):
        return target.attr
    return None


def get_key(data: Any, dotted: str, default: Any = _MISSING) -> Any:
    """The value at ``dotted`` (``a.b``; list items by index, ``layers.0``).

    Raises:
        KeyError: the path does not exist and no ``default`` was given.
    """
    node = data
    for part in dotted.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif default is not _MISSING:
            return default
        else:
            raise KeyError(dotted)
    return node


def has_key(data: Any, dotted: str) -> bool:
    """Whether ``dotted`` names a value in ``data``."""
    return get_key(data, dotted, _ABSENT) is not _ABSENT


@dataclass(frozen=True)
class StageParams:
    """The current values of a stage's params, and what could not be read.

    Attributes:
        values: ``params:`` of the lock entry (shape of :func:`params_lock_values`),
            holding only the keys that exist.
        missing_files: params files (as written) that do not exist.
        missing_keys: file (as written) -> tracked keys absent from it.
        unlockable: ``file:key`` whose value ``dvc.lock`` cannot hold (a set,
            bytes, a complex number: DVC 3.67.1 fails on them with "Object of
            type set is not JSON serializable").
    """

    values: dict[str, dict[str, Any]]
    missing_files: tuple[str, ...] = ()
    missing_keys: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    unlockable: tuple[str, ...] = ()

    def error(self, stage: StageSpec) -> ParamsError | None:
        """The error running ``stage`` must raise, or ``None`` when all values are usable."""
        by_path = {dep.path: dep.repo_path for dep in stage.params}
        if self.missing_files:
            shown = by_path.get(self.missing_files[0], self.missing_files[0])
            return ParamsError(
                f"params file '{shown}' does not exist",
                path=shown,
                stage=stage.name,
                hint=f"Create {shown}, or remove it from the stage's params",
            )
        for file, keys in self.missing_keys.items():
            shown = by_path.get(file, file)
            return ParamsError(
                f"parameters '{', '.join(keys)}' are missing",
                path=shown,
                stage=stage.name,
                hint=f"Add them to {shown} or remove them from the stage's params",
            )
        if self.unlockable:
            file, _, key = self.unlockable[0].rpartition(":")
            return ParamsError(
                f"parameter '{key}' holds a value dvc.lock cannot store",
                path=by_path.get(file, file),
                stage=stage.name,
                hint="Use lists, mappings, strings, numbers, booleans or null",
            )
        return None


def _lockable(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, list):
        return all(_lockable(v) for v in value)
    if isinstance(value, dict):
        return all(_lockable(v) for v in value.values())
    return False


def read_stage_params(root: Path, stage: StageSpec) -> StageParams:
    """Read every params file of ``stage`` without failing on absent files or keys.

    Raises:
        ParamsError, YamlSyntaxError: a file that exists but cannot be parsed
            (with the stage's name), as DVC's ``BadParamFileError``.
    """
    result: dict[str, dict[str, Any]] = {}
    missing_files: list[str] = []
    missing_keys: dict[str, tuple[str, ...]] = {}
    unlockable: list[str] = []
    for dep in sorted(stage.params, key=lambda d: d.path):
        if not (root / dep.repo_path).is_file():
            missing_files.append(dep.path)
            continue
        try:
            data = read_params_file(root / dep.repo_path, dep.repo_path)
        except PrefectDvcError as exc:
            raise type(exc)(
                exc.msg, path=exc.path, line=exc.line, stage=stage.name, hint=exc.hint
            ) from None
        if dep.keys is None:
            values = {key: data[key] for key in sorted(data)}
        else:
            found = {key: get_key(data, key, _ABSENT) for key in dict.fromkeys(dep.keys)}
            absent = tuple(key for key, value in found.items() if value is _ABSENT)
            if absent:
                missing_keys[dep.path] = absent
            values = {key: found[key] for key in sorted(found) if key not in absent}
        unlockable.extend(f"{dep.path}:{k}" for k, v in values.items() if not _lockable(v))
        result[dep.path] = values
    if DEFAULT_PARAMS_FILE in result:
        result = {DEFAULT_PARAMS_FILE: result.pop(DEFAULT_PARAMS_FILE), **result}
    return StageParams(result, tuple(missing_files), missing_keys, tuple(unlockable))


def params_lock_values(root: Path, stage: StageSpec) -> dict[str, dict[str, Any]]:
    """The ``params:`` of ``stage``'s ``dvc.lock`` entry, in DVC's order and shape.

    ``params.yaml`` comes first, then the other files sorted by their path
    (as written, relative to the stage's wdir). Key lists become flat dotted
    keys, sorted; a key naming a dict keeps that dict as in the file. A
    wholly tracked file stores its whole content, top-level keys sorted.

    Raises:
        ParamsError: a file or key is missing, or a value cannot be stored
            (naming the file, the stage and the keys).
    """
    params = read_stage_params(root, stage)
    error = params.error(stage)
    if error is not None:
        raise error
    return params.values
