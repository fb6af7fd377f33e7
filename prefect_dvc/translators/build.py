"""Build frozen :class:`StageSpec` values from resolved stage definitions.

Provides:
    build_stage(stage, doc, base): one ``StageSpec`` with every field filled.
    merge_params(entries): DVC's ``params:`` list -> ``{file: keys or None}``.
    build_outs(data, wdir, stage, doc): the stage's outs, metrics and plots as ``Out``.

Paths are kept twice, as ``pipeline.py`` documents: as written (relative to
the stage's ``wdir``, the spelling of ``dvc.lock``) and relative to the
repository root (the graph's spelling). A path leaving the repository is a
:class:`~prefect_dvc.errors.PipelineError` that names the file, line and stage.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prefect_dvc.errors import PipelineError
from prefect_dvc.external import check_external, external_path
from prefect_dvc.translators.dvcyaml import DvcYamlDoc
from prefect_dvc.translators.expand import ResolvedStage
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
    data: Mapping[str, Any], wdir: str, stage: ResolvedStage, doc: DvcYamlDoc
) -> list[Out]:
    """``Out`` values for ``outs``, then ``metrics``, then ``plots`` (DVC's order).

    A path listed twice in one section is one out with its flags merged, as in DVC.

    Raises:
        PipelineError: an out path that leaves the repository.
    """
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
        outs.append(
            Out(
                path=path,
                repo_path=_external_or_repo_path(
                    wdir, path, at, stage, doc, out_cache=flags.get("cache", True)
                ),
                kind=kind,
                cache=flags.get("cache", True),
                persist=flags.get("persist", False),
                checkpoint=flags.get("checkpoint", False),
                push=flags.get("push", True),
                remote=flags.get("remote"),
                plot_props={k: v for k, v in flags.items() if k in PLOT_PROPS},
                annotations={k: v for k, v in flags.items() if k in ANNOTATION_KEYS},
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
        check_external(location, is_out=out_cache is not None, cache=bool(out_cache))
    except PipelineError as exc:
        raise PipelineError(
            exc.msg, path=doc.path, line=doc.line(*stage.at, *at), stage=stage.name, hint=exc.hint
        ) from None
    return location


def build_stage(stage: ResolvedStage, doc: DvcYamlDoc, base: str) -> StageSpec:
    """The ``StageSpec`` of one resolved stage of ``doc`` (whose folder is ``base``).

    Raises:
        PipelineError: a wdir, dep, params file or out that leaves the repository.
    """
    data = stage.data
    wdir = _repo_path(base, data["wdir"], ("wdir",), stage, doc) if "wdir" in data else base
    deps = tuple(data.get("deps") or ())
    params = tuple(
        ParamsDep(
            path=file,
            repo_path=_repo_path(wdir, file, ("params",), stage, doc),
            keys=tuple(keys) if keys else None,
        )
        for file, keys in merge_params(data.get("params") or []).items()
    )
    cmd = data["cmd"]
    return StageSpec(
        name=stage.name,
        cmd=cmd if isinstance(cmd, str) else tuple(cmd),
        wdir=wdir,
        deps=deps,
        dep_repo_paths=tuple(
            _external_or_repo_path(wdir, dep, ("deps", i), stage, doc) for i, dep in enumerate(deps)
        ),
        params=params,
        outs=tuple(build_outs(data, wdir, stage, doc)),
        frozen=bool(data.get("frozen", False)),
        always_changed=bool(data.get("always_changed", False)),
        desc=data.get("desc"),
        meta=data.get("meta"),
        dvcfile=doc.path,
        line=stage.line,
    )
