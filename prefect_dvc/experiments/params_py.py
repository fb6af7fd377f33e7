"""``exp run -S`` on a ``.py`` params file: rewrite the literals that changed, nothing else.

Provides:
    load(text, display): the params DVC reads from a ``.py`` file (literal
        module and class assignments, ``self.x = ...`` in ``__init__``).
    render(source, new, display): the source with each changed literal
        replaced in place; comments, layout and code are kept.

DVC (``dvc/utils/serialize/_py.py``) replaces the text `` = <old value>``
with `` = <new value>`` on the assignment's line, which works for numbers,
booleans and ``None`` written as Python prints them, and silently leaves
the file unchanged otherwise (strings, ``1e-3``, values inside a dict
literal). We replace the literal's own source span (from ``ast``), which
gives DVC's bytes wherever DVC's edit works and the right edit where it does
not. Adding or deleting a name (``+key``, ``~key``) is refused, as is a value
with no Python literal (``inf``, ``nan``): DVC crashes or ignores these.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field
from typing import Any

from prefect_dvc.errors import ParamsError
from prefect_dvc.translators.params import py_assign_name


@dataclass
class _Node:
    """Where a value lives in the source: a namespace (module/class) or a literal's span."""

    span: tuple[int, int] | None = None  # byte offsets of a literal, None for a namespace
    value: Any = None
    children: dict[Any, _Node] = field(default_factory=dict)


def _tree(text: str, display: str) -> _Node:
    try:
        module = ast.parse(text, filename=display)
    except SyntaxError as exc:
        raise ParamsError(
            f"invalid Python: {exc.msg}", path=display, line=exc.lineno, hint="Fix the syntax"
        ) from None
    starts = [0]
    for line in text.encode("utf-8").splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    root = _Node()
    _body(module.body, root, starts, self_only=False)
    return root


def _body(body: list[ast.stmt], into: _Node, starts: list[int], *, self_only: bool) -> None:
    for stmt in body:
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
            targets = [stmt.target] if isinstance(stmt, ast.AnnAssign) else stmt.targets
            name = py_assign_name(targets, self_only)
            node = _literal(stmt.value, starts)
            if name is not None and node is not None:
                into.children[name] = node
        elif isinstance(stmt, ast.ClassDef):
            cls = _Node()
            _body(stmt.body, cls, starts, self_only=False)
            into.children[stmt.name] = cls
        elif isinstance(stmt, ast.FunctionDef) and stmt.name == "__init__":
            _body(stmt.body, into, starts, self_only=True)


def _literal(expr: ast.expr, starts: list[int]) -> _Node | None:
    try:
        value = ast.literal_eval(expr)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    assert expr.end_lineno is not None and expr.end_col_offset is not None
    start = starts[expr.lineno - 1] + expr.col_offset
    node = _Node((start, starts[expr.end_lineno - 1] + expr.end_col_offset), value)
    if isinstance(expr, ast.Dict) and all(k is not None for k in expr.keys):
        for key_expr, val_expr in zip(expr.keys, expr.values):
            child = _literal(val_expr, starts)
            if child is not None and key_expr is not None:
                node.children[ast.literal_eval(key_expr)] = child
    return node


def _values(node: _Node) -> dict[Any, Any]:
    return {k: c.value if c.span else _values(c) for k, c in node.children.items()}


def load(text: str, display: str) -> dict[str, Any]:
    """The params of a ``.py`` file as DVC reads them (``parse_py``).

    Raises:
        ParamsError: the file is not valid Python.
    """
    return _values(_tree(text, display))


def render(source: str, new: dict[str, Any], display: str) -> str:
    """``source`` with every literal whose value differs from ``new`` rewritten in place.

    Raises:
        ParamsError: ``new`` adds or deletes a name, holds a value with no
            Python literal, or the result is not valid Python.
    """
    edits: list[tuple[int, int, str]] = []
    _diff(_tree(source, display), new, "", edits, display)
    data = source.encode("utf-8")
    for start, end, text in sorted(edits, reverse=True):
        data = data[:start] + text.encode("utf-8") + data[end:]
    result = data.decode("utf-8")
    try:
        ast.parse(result)
    except SyntaxError:
        raise ParamsError(
            "the file would not be valid Python after -S", path=display, hint="Edit it by hand"
        ) from None
    return result


def _diff(node: _Node, new: Any, key: str, edits: list[tuple[int, int, str]], display: str) -> None:
    old = node.value if node.span else _values(node)
    if _same(old, new):
        return
    if node.span is not None and not (isinstance(new, dict) and node.children.keys() == new.keys()):
        edits.append((*node.span, _source_of(new, old, key, display)))
        return
    if not isinstance(new, dict):
        _refuse(f"cannot replace the class '{key.rstrip('.')}' with a value", display)
    for name in node.children.keys() - new.keys():
        _refuse(f"cannot delete '{key}{name}' from a .py params file", display)
    for name in new.keys() - node.children.keys():
        _refuse(f"cannot add '{key}{name}' to a .py params file", display)
    for name, child in node.children.items():
        _diff(child, new[name], f"{key}{name}.", edits, display)


def _same(old: Any, new: Any) -> bool:
    """Equal, with types (``1`` is not ``True``); tuples equal lists as OmegaConf returns them."""
    if isinstance(old, dict) and isinstance(new, dict):
        return old.keys() == new.keys() and all(_same(old[k], new[k]) for k in old)
    if isinstance(old, (list, tuple)) and isinstance(new, (list, tuple)):
        return len(old) == len(new) and all(_same(a, b) for a, b in zip(old, new))
    return type(old) is type(new) and old == new


def _source_of(value: Any, old: Any, key: str, display: str) -> str:
    if isinstance(old, tuple) and isinstance(value, list):
        value = tuple(value)
    if _has_nonfinite(value):
        _refuse(f"'{key.rstrip('.')}': {value!r} has no Python literal for a .py file", display)
    return repr(value)


def _has_nonfinite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_nonfinite(v) for v in value.values())
    if isinstance(value, (list, tuple, set)):
        return any(_has_nonfinite(v) for v in value)
    return False


def _refuse(msg: str, display: str) -> None:
    raise ParamsError(msg, path=display, hint="Edit the .py params file by hand")
