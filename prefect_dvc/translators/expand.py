"""Turn the stage definitions of one ``dvc.yaml`` into resolved, named stages.

Provides:
    ResolvedStage: one stage after ``${...}`` and ``foreach``/``matrix`` (plain data).
    expand_stages(doc, context, parsing, base): every stage of ``doc`` in file order.
    resolve_top_level(doc, context, parsing): the top-level ``params``,
        ``metrics``, ``plots``, ``artifacts`` and ``datasets`` sections, interpolated.
    foreach_members(items), matrix_members(dims): the generated keys and values,
        with DVC's naming rules (``formats.md`` section 1.7).

Every failure becomes an :class:`~prefect_dvc.errors.InterpolationError`
naming the file, the line of the offending string and the (generated) stage.
"""

from __future__ import annotations

import itertools
import logging
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from prefect_dvc.errors import InterpolationError, SchemaError
from prefect_dvc.translators.context import Context, VarsFailure
from prefect_dvc.translators.dvcyaml import DvcYamlDoc
from prefect_dvc.translators.interpolate import (
    FromContext,
    ParsingConfig,
    ResolveFailure,
    has_templates,
    resolve,
    to_str,
    unmark,
)
from prefect_dvc.translators.schema import validate_stage_fields
from prefect_dvc.translators.strings import stringify_stage, stringify_top

logger = logging.getLogger(__name__)
JOIN = "@"  # between a foreach/matrix group and its key (DVC's parsing.JOIN)
At = tuple[Any, ...]


@dataclass(frozen=True)
class ResolvedStage:
    """A stage ready to become a ``StageSpec``.

    Attributes:
        name: the lock name (``train``, ``fe@small``, ``mx@1-a``).
        data: the resolved definition, without ``vars``, ``matrix``, ``foreach``.
        at: the key path of its template in the file (for line numbers).
        line: the line of the stage's (or its group's) key.
    """

    name: str
    data: Mapping[str, Any]
    at: At
    line: int | None


def _is_composite(value: Any) -> bool:
    return isinstance(value, (dict, list, tuple))


def _split(value: Any, from_context: bool = False) -> tuple[Any, bool]:
    """``(plain value, whether an exact ${...} produced it)``."""
    if isinstance(value, FromContext):
        return unmark(value.value), True
    return unmark(value), from_context


def _scalar_name(value: Any, from_context: bool) -> str:
    # NOTE: DVC names a context value by Python's str() (``True``) and a
    # literal by its to_str() (``true``); only booleans tell them apart.
    return str(value) if from_context else to_str(value)


def foreach_members(items: Any) -> tuple[dict[str, Any], bool]:
    """``{key: item}`` for a ``foreach`` value, and whether ``${key}`` is defined.

    A dict gives its keys; a list of scalars gives each value's text (a
    literal boolean as ``true``/``false``, one reached through ``${...}``
    as ``True``/``False``, as DVC 3.67.1 names them); a list holding any list
    or dict gives the indexes. ``${key}`` exists only for dicts. Equal keys
    collapse into one stage. ``items`` may hold :class:`FromContext` marks.
    """
    items, marked = _split(items) if isinstance(items, FromContext) else (items, False)
    if isinstance(items, dict):
        return {to_str(k): unmark(v) for k, v in items.items()}, True
    values = [_split(v, marked) for v in items]
    if any(_is_composite(v) for v, _ in values):
        return {str(i): v for i, (v, _) in enumerate(values)}, False
    return {_scalar_name(v, ctx): v for v, ctx in values}, False


def matrix_members(dims: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{key: {dim: value}}`` for the Cartesian product of ``dims``.

    Dims vary in file order, the last fastest. Each value contributes its
    text (booleans named as in :func:`foreach_members`), or ``<dim><index>``
    when it is a list or dict; the fragments are joined with ``-``.
    ``dims`` and its lists may hold :class:`FromContext` marks.
    """
    plain, marked = _split(dims) if isinstance(dims, FromContext) else (dims, False)
    if marked:
        dims = {dim: FromContext(values) for dim, values in plain.items()}
    columns = []
    for values in dims.values():
        ctx = marked
        if isinstance(values, FromContext):
            values, ctx = _split(values)
        columns.append(list(enumerate(_split(v, ctx) for v in values)))
    members: dict[str, dict[str, Any]] = {}
    for combination in itertools.product(*columns):
        item: dict[str, Any] = {}
        fragments: list[str] = []
        for dim, (index, (value, ctx)) in zip(dims, combination):
            item[dim] = value
            fragments.append(f"{dim}{index}" if _is_composite(value) else _scalar_name(value, ctx))
        members["-".join(fragments)] = item
    return members


class _Expander:
    """Holds what every stage of one file shares: the file, context and options."""

    def __init__(self, doc: DvcYamlDoc, context: Context, parsing: ParsingConfig, base: str):
        self.doc = doc
        self.context = context
        self.parsing = parsing
        self.base = base

    def fail(self, msg: str, hint: str, at: At, stage: str | None) -> InterpolationError:
        return InterpolationError(
            msg, path=self.doc.path, line=self.doc.line(*at), stage=stage, hint=hint
        )

    def resolve(
        self,
        value: Any,
        ctx: Context,
        field: str | None,
        at: At,
        stage: str | None,
        mark: bool = False,
    ) -> Any:
        try:
            return resolve(value, ctx.data, field, self.parsing, mark=mark)
        except ResolveFailure as exc:
            raise self.fail(exc.msg, exc.hint, (*at, *exc.at), stage) from None

    def stage(
        self, name: str, template: Mapping[str, Any], at: At, ctx: Context, line: int | None
    ) -> ResolvedStage:
        wdir = self.base
        if "wdir" in template:
            raw = self.resolve(template["wdir"], ctx, None, (*at, "wdir"), name)
            wdir = posixpath.normpath(posixpath.join(self.base, to_str(raw)))
        entries = template.get("vars", [])
        if has_templates(entries):
            raise self.fail(
                "interpolating is not allowed in vars", "Write vars literally", (*at, "vars"), name
            )
        if entries:
            ctx = ctx.clone()
            try:
                ctx.load_vars(entries, wdir, source_prefix=f"{name}.")
            except VarsFailure as exc:
                raise self.fail(exc.msg, exc.hint, (*at, "vars", exc.index), name) from None
        data = stringify_stage(
            {
                key: self.resolve(value, ctx, key, (*at, key), name)
                for key, value in template.items()
                if key not in ("vars", "matrix")
            }
        )
        try:
            validate_stage_fields(
                data, self.doc.path, lambda *k: self.doc.line(*at, *k[2:]), ("stages", name)
            )
        except SchemaError as exc:
            raise InterpolationError(
                f"after interpolation, {exc.msg}",
                path=exc.path,
                line=exc.line,
                stage=name,
                hint=exc.hint,
            ) from None
        return ResolvedStage(name=name, data=data, at=at, line=line)

    def foreach(self, group: str, definition: Mapping[str, Any]) -> list[ResolvedStage]:
        at: At = ("stages", group)
        items = self.resolve(
            definition["foreach"], self.context, None, (*at, "foreach"), group, mark=True
        )
        plain = unmark(items)
        if not isinstance(plain, (dict, list)):
            raise self.fail(
                f"foreach expected a list or a mapping, got {type(plain).__name__}",
                "Give foreach a list, a mapping, or ${...} naming one",
                (*at, "foreach"),
                group,
            )
        members, with_key = foreach_members(items)
        self._check_keys(group, members, (*at, "foreach"))
        self._warn_overwrite(group, ["item", "key"] if with_key else ["item"])
        line = self.doc.line(*at)
        stages = []
        for key, item in members.items():
            local = {"item": item, "key": key} if with_key else {"item": item}
            ctx = self.context.with_locals(local)
            stages.append(self.stage(f"{group}@{key}", definition["do"], (*at, "do"), ctx, line))
        return stages

    def matrix(self, group: str, definition: Mapping[str, Any]) -> list[ResolvedStage]:
        at: At = ("stages", group)
        dims = self.resolve(
            definition["matrix"], self.context, None, (*at, "matrix"), group, mark=True
        )
        self._check_dims(group, unmark(dims), (*at, "matrix"))
        members = matrix_members(dims)
        self._check_keys(group, members, (*at, "matrix"))
        self._warn_overwrite(group, ["key", "item"])
        line = self.doc.line(*at)
        return [
            self.stage(
                f"{group}@{key}",
                definition,
                at,
                self.context.with_locals({"key": key, "item": item}),
                line,
            )
            for key, item in members.items()
        ]

    def _check_dims(self, group: str, dims: Any, at: At) -> None:
        """Each dimension a non-empty list (DVC silently drops the whole stage)."""
        if not isinstance(dims, dict) or not dims:
            raise self.fail(
                "matrix needs at least one dimension (a mapping of names to lists)",
                "Give matrix a mapping such as {lr: [0.1, 0.01]}",
                at,
                group,
            )
        for dim, values in dims.items():
            if not isinstance(values, list):
                raise self.fail(
                    f"matrix dimension '{dim}' must be a list, got {type(values).__name__}",
                    "Give each dimension a list",
                    (*at, dim),
                    group,
                )
            if not values:
                raise self.fail(
                    f"matrix dimension '{dim}' has no values, so no stage would be generated",
                    f"Give '{dim}' at least one value, or remove the stage",
                    (*at, dim),
                    group,
                )

    def _check_keys(self, group: str, members: Mapping[str, Any], at: At) -> None:
        # NOTE: DVC splits 'group@key' at the last '@', so a key holding '@'
        # names a stage DVC then cannot find ("Stage 'f@x@y' not found").
        for key in members:
            if JOIN in key:
                raise self.fail(
                    f"generated stage name '{group}{JOIN}{key}' contains '{JOIN}' twice",
                    f"Remove '{JOIN}' from the foreach/matrix values, or iterate over a "
                    "list of mappings (named by index)",
                    at,
                    group,
                )

    def _warn_overwrite(self, group: str, keys: list[str]) -> None:
        taken = [k for k in keys if k in self.context.data]
        if taken:
            logger.warning(
                "%s: %s %s already specified, will be overwritten for stages generated from '%s'",
                self.doc.path,
                " and ".join(taken),
                "is" if len(taken) == 1 else "are",
                group,
            )


def expand_stages(
    doc: DvcYamlDoc, context: Context, parsing: ParsingConfig, base: str
) -> list[ResolvedStage]:
    """All stages of ``doc`` in file order, generated ones expanded in place.

    ``base`` is the directory of the ``dvc.yaml``, relative to the repository root.

    Raises:
        InterpolationError: an unknown ``${...}`` name, a bad ``vars`` entry,
            a value of the wrong type after interpolation, bad foreach data.
    """
    expander = _Expander(doc, context, parsing, base)
    stages: list[ResolvedStage] = []
    for name, definition in doc.data.get("stages", {}).items():
        if "foreach" in definition:
            stages.extend(expander.foreach(name, definition))
        elif "matrix" in definition:
            stages.extend(expander.matrix(name, definition))
        else:
            at: At = ("stages", name)
            stages.append(expander.stage(name, definition, at, context, doc.line(*at)))
    return stages


def resolve_top_level(doc: DvcYamlDoc, context: Context, parsing: ParsingConfig) -> dict[str, Any]:
    """The top-level sections (except ``stages``/``vars``) with ``${...}`` resolved."""
    expander = _Expander(doc, context, parsing, "")
    result: dict[str, Any] = {}
    for section in ("params", "metrics", "plots", "artifacts", "datasets"):
        if section in doc.data:
            resolved = expander.resolve(doc.data[section], context, None, (section,), None)
            result[section] = stringify_top(section, resolved)
    return result
