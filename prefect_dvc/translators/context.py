"""The data ``${...}`` is resolved against: ``params.yaml`` plus ``vars``.

Provides:
    Context: the merged values, where each came from, which files were
        imported and which keys (``item``/``key``) are reserved.
    Context.load_vars(entries, base, source_prefix): merge a ``vars`` list.
    Context.with_locals(values): the context plus ``item``/``key`` of a
        generated stage (cheap: the top-level dict is copied, nothing else).
    context_value(value): a value as the context holds it (string keys only).
    VarsFailure: a problem in ``vars``, turned into an InterpolationError by
        the caller (who knows the line).

The rules are ``formats.md`` section 1.6: ``params.yaml`` beside ``dvc.yaml``
first if it exists, then each ``vars`` entry in order (``file``,
``file:k1,k2``, or an inline mapping). Mappings merge recursively, but a
value can never be redefined, so the same key in two sources is an error
that names both. Files are read with :func:`prefect_dvc.translators.params.read_params_file`.
"""

from __future__ import annotations

import copy
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefect_dvc.translators.params import read_params_file

KeyPath = tuple[str, ...]


class VarsFailure(Exception):
    """A ``vars`` entry that cannot be loaded; ``index`` is its position in the list."""

    def __init__(self, msg: str, hint: str, index: int | None = None) -> None:
        super().__init__(msg)
        self.msg = msg
        self.hint = hint
        self.index = index


@dataclass
class Context:
    """Interpolation data with provenance.

    Attributes:
        root: the repository root (files are read below it).
        data: the merged values (top-level keys are the names of ``${...}``).
        sources: where a key path was defined (``params.yaml``, ``vars[0]``);
            a path not listed inherits its parent's source.
        imports: repo-relative files loaded so far, with the keys taken
            (``None`` = the whole file).
        reserved: keys ``vars`` may not define (``item``/``key`` while a
            ``foreach``/``matrix`` stage is generated).
    """

    root: Path
    data: dict[str, Any] = field(default_factory=dict)
    sources: dict[KeyPath, str] = field(default_factory=dict)
    imports: dict[str, list[str] | None] = field(default_factory=dict)
    reserved: frozenset[str] = frozenset()

    def clone(self) -> Context:
        """A deep copy, so stage-level ``vars`` never leak into other stages."""
        return Context(
            root=self.root,
            data=copy.deepcopy(self.data),
            sources=dict(self.sources),
            imports={k: (list(v) if v is not None else None) for k, v in self.imports.items()},
            reserved=self.reserved,
        )

    def with_locals(self, values: Mapping[str, Any]) -> Context:
        """This context with ``values`` set at the top level and reserved."""
        return Context(
            root=self.root,
            data={**self.data, **{k: context_value(v) for k, v in values.items()}},
            sources={**self.sources, **{(k,): "<generated>" for k in values}},
            imports=self.imports,
            reserved=self.reserved | frozenset(values),
        )

    def load_default(self, base: str) -> None:
        """Merge ``<base>/params.yaml`` if it exists (DVC's implicit first source)."""
        rel = posixpath.normpath(posixpath.join(base, "params.yaml"))
        if (self.root / rel).is_file():
            self._merge_file(rel, None, "params.yaml")

    def load_vars(self, entries: list[Any], base: str, source_prefix: str = "") -> None:
        """Merge each ``vars`` entry; file paths are relative to ``base`` (repo-relative).

        Raises:
            VarsFailure: missing file or key, a redefinition, a reserved key,
                or a file loaded both whole and in part.
        """
        for index, entry in enumerate(entries):
            try:
                if isinstance(entry, str):
                    path, _, keys = entry.partition(":")
                    rel = posixpath.normpath(posixpath.join(base, path))
                    self._merge_file(rel, [k for k in keys.split(",") if k] or None, entry)
                else:
                    self._merge(entry, f"{source_prefix}vars[{index}]")
            except VarsFailure as exc:
                raise VarsFailure(exc.msg, exc.hint, index) from None

    def _merge_file(self, rel: str, keys: list[str] | None, entry: str) -> None:
        if rel in self.imports:
            before = self.imports[rel]
            if keys is None and before is None:
                return  # NOTE: a whole file may be listed again (DVC allows it).
            if keys is not None and before is None:
                raise VarsFailure(
                    f"cannot partially load '{entry}' as it's already loaded",
                    "List the file once, either whole or with keys",
                )
            if keys is None or set(keys) & set(before or ()):
                raise VarsFailure(
                    f"cannot load '{entry}' as it's partially loaded already",
                    "List the file once, either whole or with keys",
                )
        path = self.root / rel
        if not path.is_file():
            raise VarsFailure(
                f"vars file '{rel}' does not exist", "Create it, or remove it from vars"
            )
        data = read_params_file(path, rel)
        if keys is not None:
            missing = [k for k in keys if k not in data]
            if missing:
                raise VarsFailure(
                    f"could not find '{missing[0]}' in '{rel}'",
                    f"Add it to {rel} or remove it from vars",
                )
            data = {k: data[k] for k in keys}
        self._merge(data, rel)
        if rel not in self.imports or self.imports[rel] is None:
            self.imports[rel] = list(keys) if keys is not None else None
        else:
            self.imports[rel] = [*(self.imports[rel] or []), *(keys or [])]

    def _merge(self, new: Mapping[str, Any], source: str) -> None:
        taken = sorted(self.reserved & set(new))
        if taken:
            raise VarsFailure(
                f"attempted to modify reserved key {' and '.join(taken)}",
                "'item' and 'key' are set by foreach/matrix; rename the variable",
            )
        _merge_into(self.data, new, (), source, self.sources)


def _merge_into(
    into: dict[str, Any],
    new: Mapping[Any, Any],
    at: KeyPath,
    source: str,
    sources: dict[KeyPath, str],
) -> None:
    for key, value in new.items():
        if not isinstance(key, str):
            continue  # NOTE: DVC drops non-string keys: ${...} cannot name them.
        here = (*at, key)
        if isinstance(into.get(key), dict) and isinstance(value, dict):
            _merge_into(into[key], value, here, source, sources)
            continue
        if key in into:
            raise VarsFailure(
                f"cannot redefine '{'.'.join(here)}' from '{source}' as it already "
                f"exists in '{_source_of(here, sources)}'",
                "Rename one of them, or define it only once",
            )
        into[key] = context_value(value)
        sources[here] = source


def context_value(value: Any) -> Any:
    """A deep copy of ``value`` as DVC's context holds it.

    Mappings lose their non-string keys at every depth, inside lists too
    (``CtxDict.__setitem__`` ignores them: ``${...}`` could not name them), so
    ``{1: a, b: 2}`` unpacks to ``--b 2``. Tuples (from ``.py`` files) become lists.
    """
    if isinstance(value, Mapping):
        return {k: context_value(v) for k, v in value.items() if isinstance(k, str)}
    if isinstance(value, (list, tuple)):
        return [context_value(v) for v in value]
    return copy.deepcopy(value)


def _source_of(at: KeyPath, sources: Mapping[KeyPath, str]) -> str:
    while at:
        if at in sources:
            return sources[at]
        at = at[:-1]
    return "<unknown>"
