"""DVC 3's ``dvc.yaml`` schema, checked with messages that say where and what to do.

Provides:
    validate_dvcyaml(data, path, line_of): check a whole parsed ``dvc.yaml``.
    validate_stage_fields(definition, path, line_of, at): check one stage
        definition (used again after interpolation, whose exact-match
        ``${...}`` can change a value's type).
    STAGE_KEYS, OUT_FLAGS, PLOT_PROPS: the allowed key names.

The rules mirror DVC's ``MULTI_STAGE_SCHEMA`` (``formats.md`` section 1): the
schema applies to the file as written, before ``${...}`` is resolved, so
``frozen: ${flag}`` is rejected here as DVC rejects it. Unlike DVC, which
lists every violation, the first one is reported: one actionable line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prefect_dvc.errors import SchemaError

LineOf = Callable[..., "int | None"]
At = tuple[Any, ...]

ANNOTATION_KEYS = ("desc", "type", "labels", "meta")
OUT_FLAGS = (*ANNOTATION_KEYS, "cache", "persist", "checkpoint", "remote", "push")
PLOT_PROPS = ("template", "x", "y", "x_label", "y_label", "title", "header")
STAGE_KEYS = (
    "cmd",
    "wdir",
    "deps",
    "params",
    "outs",
    "metrics",
    "plots",
    "frozen",
    "always_changed",
    "desc",
    "meta",
    "vars",
    "matrix",
)
TOP_KEYS = ("stages", "vars", "params", "metrics", "plots", "artifacts", "datasets")


@dataclass(frozen=True)
class _Where:
    """Where a value sits: the file, how to find lines, and its key path."""

    path: str
    line_of: LineOf
    at: At

    def __truediv__(self, key: Any) -> _Where:
        return _Where(self.path, self.line_of, (*self.at, key))

    def fail(self, msg: str, hint: str) -> SchemaError:
        stage = self.at[1] if len(self.at) > 1 and self.at[0] == "stages" else None
        return SchemaError(
            f"{msg} at '{_render(self.at)}'",
            path=self.path,
            line=self.line_of(*self.at),
            stage=str(stage) if stage is not None else None,
            hint=hint,
        )


def _render(at: At) -> str:
    text = ""
    for key in at:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else str(key))
    return text or "<top>"


def _type_name(value: Any) -> str:
    names = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}
    return names.get(type(value), "null" if value is None else type(value).__name__)


def _expect(value: Any, types: type | tuple[type, ...], what: str, where: _Where) -> None:
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        ok = False
    else:
        ok = isinstance(value, types)
    if not ok:
        raise where.fail(
            f"expected {what}, got {_type_name(value)} ({value!r:.40})",
            f"Write {what} here",
        )


def _str_list(value: Any, where: _Where) -> None:
    _expect(value, list, "a list of strings", where)
    for index, item in enumerate(value):
        _expect(item, str, "a string", where / index)


def _keys(value: Mapping[Any, Any], allowed: Sequence[str], where: _Where) -> None:
    for key in value:
        if key not in allowed:
            raise (where / key).fail(
                f"unknown key '{key}'",
                f"Check the spelling; allowed keys are: {', '.join(allowed)}",
            )


def _required(value: Mapping[Any, Any], key: str, where: _Where, hint: str) -> None:
    if key not in value:
        raise where.fail(f"missing required key '{key}'", hint)


def validate_dvcyaml(data: Mapping[str, Any], path: str, line_of: LineOf) -> None:
    """Check ``data`` (a parsed ``dvc.yaml``) against DVC 3's schema.

    Raises:
        SchemaError: naming the file, line, key path and stage of the first problem.
    """
    top = _Where(path, line_of, ())
    _keys(data, TOP_KEYS, top)
    if "vars" in data:
        _vars(data["vars"], top / "vars")
    for key in ("params", "metrics"):
        if key in data:
            _str_list(data[key], top / key)
    if "plots" in data:
        _top_plots(data["plots"], top / "plots")
    if "artifacts" in data:
        _artifacts(data["artifacts"], top / "artifacts")
    stages = data.get("stages", {})
    _expect(stages, dict, "a mapping of stage names to stages", top / "stages")
    for name, definition in stages.items():
        where = top / "stages" / name
        _expect(name, str, "a string stage name", where)
        _expect(definition, dict, "a stage definition (a mapping)", where)
        _stage_name(name, definition, where)
        if "foreach" in definition or "do" in definition:
            _foreach(definition, where)
        else:
            validate_stage_fields(definition, path, line_of, where.at)


def _stage_name(name: str, definition: Mapping[str, Any], where: _Where) -> None:
    """DVC 3.67.1 cannot address an empty name or a plain stage named ``a@b``.

    DVC splits a name at its last ``@`` into foreach/matrix group and key
    (``dvc/parsing/__init__.py::split_group_name``), so it answers "Stage 'a@b'
    not found" for such a stage; a group may hold ``@`` (``g@x@1`` splits
    into ``g@x`` and ``1``). Other punctuation is accepted by ``dvc.yaml``.
    """
    if not name:
        raise where.fail("a stage name cannot be empty", "Give the stage a name")
    generated = any(key in definition for key in ("foreach", "do", "matrix"))
    if "@" in name and not generated:
        raise where.fail(
            f"stage name '{name}' contains '@', which DVC reserves for foreach/matrix "
            "stages ('group@key')",
            "Rename the stage without '@'",
        )


def _foreach(definition: Mapping[str, Any], where: _Where) -> None:
    _keys(definition, ("foreach", "do"), where)
    hint = "A generated stage needs both 'foreach:' (the items) and 'do:' (the stage)"
    _required(definition, "foreach", where, hint)
    _required(definition, "do", where, hint)
    _expect(
        definition["foreach"], (dict, list, str), "a list, a mapping or '${...}'", where / "foreach"
    )
    do = definition["do"]
    _expect(do, dict, "a stage definition (a mapping)", where / "do")
    if "matrix" in do:
        raise (where / "do" / "matrix").fail(
            "'matrix' cannot be used inside 'do'", "Use either foreach/do or matrix"
        )
    validate_stage_fields(do, where.path, where.line_of, (*where.at, "do"))


def validate_stage_fields(
    definition: Mapping[str, Any], path: str, line_of: LineOf, at: At
) -> None:
    """Check one stage definition (no ``foreach``) whose key path is ``at``.

    Raises:
        SchemaError: unknown key, missing ``cmd``, or a value of the wrong type.
    """
    where = _Where(path, line_of, at)
    _keys(definition, STAGE_KEYS, where)
    _required(definition, "cmd", where, "Add 'cmd: <shell command>' to the stage")
    cmd = definition["cmd"]
    _expect(cmd, (str, list), "a command string or a list of commands", where / "cmd")
    if isinstance(cmd, list):
        _str_list(cmd, where / "cmd")
    for key in ("wdir", "desc"):
        if key in definition:
            _expect(definition[key], str, "a string", where / key)
    for key in ("frozen", "always_changed"):
        if key in definition:
            _expect(definition[key], bool, "true or false", where / key)
    if "deps" in definition:
        _str_list(definition["deps"], where / "deps")
    if "params" in definition:
        _stage_params(definition["params"], where / "params")
    if "vars" in definition:
        _vars(definition["vars"], where / "vars")
    if "matrix" in definition:
        _matrix(definition["matrix"], where / "matrix")
    for key in ("outs", "metrics", "plots"):
        if key in definition:
            _outs(definition[key], key, where / key)


def _vars(value: Any, where: _Where) -> None:
    _expect(value, list, "a list of files ('file', 'file:k1,k2') or mappings", where)
    for index, item in enumerate(value):
        _expect(item, (str, dict), "a file name or a mapping", where / index)


def _stage_params(value: Any, where: _Where) -> None:
    _expect(value, list, "a list of params", where)
    for index, item in enumerate(value):
        _expect(item, (str, dict), "a key or a {file: [keys]} mapping", where / index)
        if isinstance(item, dict):
            for file, keys in item.items():
                _expect(file, str, "a params file name", where / index / file)
                if keys is not None:
                    _expect(
                        keys,
                        list,
                        "a list of keys, or nothing for the whole file",
                        where / index / file,
                    )
                    for n, key in enumerate(keys):
                        _expect(key, str, "a key", where / index / file / n)


def _matrix(value: Any, where: _Where) -> None:
    _expect(value, dict, "a mapping of dimension names to lists", where)
    for dim, items in value.items():
        _expect(dim, str, "a dimension name", where / dim)
        _expect(items, (list, str), "a list or '${...}'", where / dim)


def _outs(value: Any, kind: str, where: _Where) -> None:
    allowed = (*OUT_FLAGS, *PLOT_PROPS) if kind == "plots" else OUT_FLAGS
    _expect(value, list, f"a list of {kind} paths", where)
    for index, item in enumerate(value):
        _expect(item, (str, dict), "a path or a {path: flags} mapping", where / index)
        if isinstance(item, str):
            continue
        for out_path, flags in item.items():
            at = where / index / out_path
            _expect(out_path, str, "a path", at)
            # NOTE: DVC's schema also admits a list of plot-prop mappings here,
            # but its loader then fails ("Expected dict"); we reject it up front.
            _flags(flags, allowed, at)


def _flags(flags: Any, allowed: Sequence[str], where: _Where) -> None:
    _expect(flags, dict, "a mapping of flags (cache, persist, ...)", where)
    _keys(flags, allowed, where)
    for key, value in flags.items():
        if key in ("cache", "persist", "checkpoint", "push", "header"):
            _expect(value, bool, "true or false", where / key)
        elif key == "labels":
            _str_list(value, where / key)
        elif key != "meta":
            _expect(value, str, "a string", where / key)


def _top_plots(value: Any, where: _Where) -> None:
    _expect(value, list, "a list of plots (the mapping form was dropped in DVC 3)", where)
    for index, item in enumerate(value):
        _expect(item, (str, dict), "a path or a {path_or_id: props} mapping", where / index)
        if isinstance(item, str):
            continue
        for plot_id, props in item.items():
            at = where / index / plot_id
            if props is None:
                continue
            _expect(props, dict, "a mapping of plot properties", at)
            _keys(props, ("x", "y", "x_label", "y_label", "title", "template"), at)
            for key, prop in props.items():
                _plot_prop(key, prop, at / key)


def _plot_prop(key: str, prop: Any, where: _Where) -> None:
    if key == "x" and isinstance(prop, dict):
        for file, col in prop.items():
            _expect(col, str, "a column name", where / file)
    elif key == "y" and isinstance(prop, dict):
        for file, cols in prop.items():
            _expect(cols, (str, list), "a column name or a list of them", where / file)
            if isinstance(cols, list):
                _str_list(cols, where / file)
    elif key == "y" and isinstance(prop, list):
        _str_list(prop, where)
    else:
        _expect(prop, str, "a string", where)


def _artifacts(value: Any, where: _Where) -> None:
    _expect(value, dict, "a mapping of artifact names", where)
    for name, artifact in value.items():
        at = where / name
        _expect(artifact, dict, "a mapping with at least 'path'", at)
        _keys(artifact, ("path", *ANNOTATION_KEYS), at)
        _required(artifact, "path", at, "Add 'path: <file>' to the artifact")
        for key in ("path", "desc", "type"):
            if key in artifact:
                _expect(artifact[key], str, "a string", at / key)
        if "labels" in artifact:
            _str_list(artifact["labels"], at / "labels")
