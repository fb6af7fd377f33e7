"""Build frozen :class:`StageSpec` values from resolved stage definitions.

Provides:
    build_stage(stage, doc, base, root): one ``StageSpec`` with every field filled,
        its outs checked (``outcheck.py``).
    merge_params(entries): DVC's ``params:`` list -> ``{file: keys or None}``.
    build_outs(data, wdir, stage, doc, root): the stage's outs, metrics and plots as ``Out``.

Paths are kept twice, as ``pipeline.py`` documents: as written (relative to
the stage's ``wdir``, the spelling of ``dvc.lock``) and relative to the
repository root (the graph's spelling). A path leaving the repository is a
:class:`~prefect_dvc.errors.PipelineError` that names the file, line and stage.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prefect_dvc.errors import PipelineError
from prefect_dvc.external import check_external, external_path
from prefect_dvc.safety import in_repo_relative
from prefect_dvc.translators.dvcyaml import DvcYamlDoc
from prefect_dvc.translators.expand import ResolvedStage
from prefect_dvc.translators.outcheck import check_outs
from prefect_dvc.translators.pipeline import Out, OutKind, ParamsDep, StageSpec, join_repo_path
from prefect_dvc.translators.schema import ANNOTATION_KEYS, PLOT_PROPS

DEFAULT_PARAMS_FILE = "params.yaml"
_KINDS: tuple[tuple[str, OutKind], ...] = (
    ("outs", "out"),
    ("metrics", "metric"),
    ("plots", "plot"),
)


def merge_params(entries: list[Any]) -> dict[str, list[str] | None]:
    """Group a stage's ``params:`` by file, as DVC does (``formats.md`` section 1.4).

    Bare keys belong to ``params.yaml``; ``{file: null}`` or ``{file: []}``
    tracks the whole file and drops any key list given for it elsewhere
    (bare keys too, when ``params.yaml`` is the file). Files keep the order
    of first mention; keys keep theirs, without repeats.
    """
    whole = {
        file
        for entry in entries
        if isinstance(entry, dict)
        for file, keys in entry.items()
        if not keys
    }
    merged: dict[str, list[str] | None] = {}
    for entry in entries:
        pairs = [(DEFAULT_PARAMS_FILE, [entry])] if isinstance(entry, str) else entry.items()
        for file, keys in pairs:
            if file in whole:
                if isinstance(entry, dict):
                    merged[file] = None
                continue
            current = merged.setdefault(file, [])
            assert current is not None
            current.extend(k for k in keys if k not in current)
    return merged


def build_outs(
    data: Mapping[str, Any], wdir: str, stage: ResolvedStage, doc: DvcYamlDoc, root: Path
) -> list[Out]:
    """``Out`` values for ``outs``, then ``metrics``, then ``plots`` (DVC's order).

    A path listed twice in one section is one out with its flags merged, as in DVC.
    An absolute path inside ``root`` is written relative to ``wdir``, as DVC
    writes it to ``dvc.lock``.

    Raises:
        PipelineError: an out path that leaves the repository.
    """
    return [out for out, _ in _placed_outs(data, wdir, stage, doc, root)]


def _placed_outs(
    data: Mapping[str, Any], wdir: str, stage: ResolvedStage, doc: DvcYamlDoc, root: Path
) -> list[tuple[Out, tuple[str, int]]]:
    """:func:`build_outs`, each out with its key path (``("outs", 0)``) for line numbers."""
    found: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
    for section, _kind in _KINDS:
        for index, entry in enumerate(data.get(section) or []):
            items = {entry: {}} if isinstance(entry, str) else entry
            for path, flags in items.items():
                found.setdefault((section, path), (index, {}))[1].update(flags)
    kinds = dict(_KINDS)
    outs = []
    for (section, path), (index, flags) in found.items():
        kind = kinds[section]
        at = (section, index)
        cache = flags.get("cache", True)
        written, repo_path = _locate(root, wdir, path, at, stage, doc, out_cache=cache)
        outs.append(
            (
                Out(
                    path=written,
                    repo_path=repo_path,
                    kind=kind,
                    cache=cache,
                    persist=flags.get("persist", False),
                    checkpoint=flags.get("checkpoint", False),
                    push=flags.get("push", True),
                    remote=flags.get("remote"),
                    plot_props={k: v for k, v in flags.items() if k in PLOT_PROPS},
                    annotations={k: v for k, v in flags.items() if k in ANNOTATION_KEYS},
                ),
                at,
            )
        )
    return outs


def _repo_path(
    wdir: str, path: str, at: tuple[Any, ...], stage: ResolvedStage, doc: DvcYamlDoc
) -> str:
    """``join_repo_path`` whose error names the file, the line of ``at`` and the stage."""
    try:
        return join_repo_path(wdir, path)
    except PipelineError as exc:
        raise PipelineError(
            exc.msg,
            path=doc.path,
            line=doc.line(*stage.at, *at),
            stage=stage.name,
            hint=exc.hint,
        ) from None


def _locate(
    root: Path,
    wdir: str,
    path: str,
    at: tuple[Any, ...],
    stage: ResolvedStage,
    doc: DvcYamlDoc,
    *,
    external: bool = True,
    out_cache: bool | None = None,
) -> tuple[str, str]:
    """``(path as dvc.lock spells it, path relative to the root)`` for a dep, param or out.

    DVC (``output.py``: ``relpath(path, stage.wdir)`` when ``path_isin``)
    rewrites an absolute path inside the repository relative to the stage's
    ``wdir`` and keeps relative paths exactly as written. A path outside is,
    with ``external``, a DVC 3 external dep or (``out_cache`` not ``None``)
    an uncached external out (``external.py``); else :func:`join_repo_path`
    refuses it (params files).
    """
    written = path
    if posixpath.isabs(path):
        rel = in_repo_relative(root, path)
        if rel is not None:
            written = posixpath.relpath(rel, wdir)
    if not external:
        return written, _repo_path(wdir, written, at, stage, doc)
    return written, _external_or_repo_path(wdir, written, at, stage, doc, out_cache=out_cache)


def _external_or_repo_path(
    wdir: str,
    path: str,
    at: tuple[Any, ...],
    stage: ResolvedStage,
    doc: DvcYamlDoc,
    *,
    out_cache: bool | None = None,
) -> str:
    """An external dep's or out's location (``external.py``), else its repo path.

    ``out_cache`` is ``None`` for a dep, else the out's ``cache`` flag.
    """
    location = external_path(wdir, path)
    if location is None:
        return _repo_path(wdir, path, at, stage, doc)
    try:
        check_external(location, is_out=out_cache is not None, cache=bool(out_cache), written=path)
    except PipelineError as exc:
        raise PipelineError(
            exc.msg, path=doc.path, line=doc.line(*stage.at, *at), stage=stage.name, hint=exc.hint
        ) from None
    return location


def build_stage(stage: ResolvedStage, doc: DvcYamlDoc, base: str, root: Path) -> StageSpec:
    """The ``StageSpec`` of one resolved stage of ``doc`` (whose folder is ``base``).

    ``root`` is the repository root: absolute in-repo paths are made
    relative to it, and every out is checked by :func:`check_outs`.

    Raises:
        PipelineError: a wdir, dep, params file or out that leaves the repository.
        UnsafePathError: an out that may never be deleted (see :func:`check_outs`).
    """
    data = stage.data
    wdir = _repo_path(base, data["wdir"], ("wdir",), stage, doc) if "wdir" in data else base
    located = [
        _locate(root, wdir, d, ("deps", i), stage, doc)
        for i, d in enumerate(data.get("deps") or ())
    ]
    params = tuple(
        ParamsDep(
            path=written,
            repo_path=repo_path,
            keys=tuple(keys) if keys else None,
        )
        for file, keys in merge_params(data.get("params") or []).items()
        for written, repo_path in [
            _locate(root, wdir, file, ("params",), stage, doc, external=False)
        ]
    )
    placed = _placed_outs(data, wdir, stage, doc, root)
    cmd = data["cmd"]
    spec = StageSpec(
        name=stage.name,
        cmd=cmd if isinstance(cmd, str) else tuple(cmd),
        wdir=wdir,
        deps=tuple(written for written, _ in located),
        dep_repo_paths=tuple(repo_path for _, repo_path in located),
        params=params,
        outs=tuple(out for out, _ in placed),
        frozen=bool(data.get("frozen", False)),
        always_changed=bool(data.get("always_changed", False)),
        desc=data.get("desc"),
        meta=data.get("meta"),
        dvcfile=doc.path,
        line=stage.line,
    )
    check_outs(spec, placed, root, doc, stage.at)
    return spec
