"""dvc.yaml -> :class:`~prefect_dvc.translators.pipeline.Pipeline`.

Provides:
    load_pipeline(root, dvcfile="dvc.yaml"): read, validate, interpolate and
        expand one ``dvc.yaml`` into a checked ``Pipeline`` of ``StageSpec``.
    load_stages(root, dvcfile="dvc.yaml"): the same stages and top-level
        sections without building the graph (to combine several files).
    LoadedDvcYaml: what ``load_stages`` returns.

The steps live in their own modules: ``dvcyaml`` (YAML with line numbers) and
``schema`` (DVC 3's schema), ``context`` and ``interpolate`` (``${...}``),
``expand`` (``foreach``/``matrix``), ``build`` (``StageSpec``), ``params``
(params files and lock values). This package never imports Prefect; the
Prefect flow is built in ``translators/flow.py``.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefect_dvc.dvcfile import tracked_paths
from prefect_dvc.errors import InterpolationError
from prefect_dvc.translators.build import build_stage
from prefect_dvc.translators.context import Context, VarsFailure
from prefect_dvc.translators.dvcyaml import DvcYamlDoc, load_dvcyaml
from prefect_dvc.translators.expand import expand_stages, resolve_top_level
from prefect_dvc.translators.interpolate import has_templates, read_parsing_config
from prefect_dvc.translators.pipeline import Pipeline, StageSpec, check_tracked_outs

__all__ = ["LoadedDvcYaml", "load_pipeline", "load_stages"]


@dataclass(frozen=True)
class LoadedDvcYaml:
    """The stages and top-level sections of one ``dvc.yaml``.

    ``params_files`` and ``metrics_files`` are relative to the repository
    root; ``plots``, ``artifacts`` and ``datasets`` are as written (interpolated).
    ``vars`` is the interpolation context (``params.yaml`` and top-level
    ``vars``), which ``exp show`` displays even though it is no dependency.
    """

    stages: tuple[StageSpec, ...]
    params_files: tuple[str, ...] = ()
    metrics_files: tuple[str, ...] = ()
    plots: tuple[Any, ...] = ()
    artifacts: Mapping[str, Any] = field(default_factory=dict)
    datasets: tuple[Any, ...] = ()
    vars: Mapping[str, Any] = field(default_factory=dict)


def load_stages(root: Path, dvcfile: str = "dvc.yaml") -> LoadedDvcYaml:
    """Read ``root/dvcfile`` into resolved stages (no graph checks).

    Raises:
        DvcYamlError: missing file; YamlSyntaxError, SchemaError or
            InterpolationError for a broken one (each with file and line).
        ParamsError: a vars file that does not parse.
        PipelineError: a path that leaves the repository.
    """
    root = Path(root)
    doc = load_dvcyaml(root / dvcfile, dvcfile)
    base = posixpath.dirname(posixpath.normpath(dvcfile)) or "."
    parsing = read_parsing_config(root)
    context = _global_context(doc, root, base)
    stages = tuple(
        build_stage(stage, doc, base, root) for stage in expand_stages(doc, context, parsing, base)
    )
    top = resolve_top_level(doc, context, parsing)
    return LoadedDvcYaml(
        stages=stages,
        params_files=tuple(_from_base(base, p) for p in top.get("params", ())),
        metrics_files=tuple(_from_base(base, p) for p in top.get("metrics", ())),
        plots=tuple(top.get("plots", ())),
        artifacts=dict(top.get("artifacts", {})),
        datasets=tuple(top.get("datasets", ()) or ()),
        vars=context.data,
    )


def load_pipeline(root: Path, dvcfile: str = "dvc.yaml") -> Pipeline:
    """Read ``root/dvcfile`` into a checked :class:`Pipeline`.

    Raises:
        DvcYamlError: ``dvc.yaml not found in <root>`` and its subclasses for
            syntax, schema and interpolation errors (file, line, stage).
        ParamsError: a vars file that does not parse.
        PipelineError: a cycle, a shared or overlapping out, a path outside,
            an out overlapping the out of a ``.dvc`` file.
    """
    loaded = load_stages(root, dvcfile)
    stage_outs = {out.repo_path for stage in loaded.stages for out in stage.outs}
    pipeline = Pipeline.build(
        loaded.stages,
        params_files=loaded.params_files,
        metrics_files=loaded.metrics_files,
        plots=loaded.plots,
        artifacts=loaded.artifacts,
        tracked=tracked_paths(Path(root), skip=stage_outs),
    )
    check_tracked_outs(pipeline)
    return pipeline


def _global_context(doc: DvcYamlDoc, root: Path, base: str) -> Context:
    """``params.yaml`` beside the ``dvc.yaml`` (if any) plus its top-level ``vars``."""
    entries = doc.data.get("vars", [])
    if has_templates(entries):
        raise InterpolationError(
            "interpolating is not allowed in vars",
            path=doc.path,
            line=doc.line("vars"),
            hint="Write vars literally",
        )
    context = Context(root=root)
    try:
        context.load_default(base)
        context.load_vars(entries, base)
    except VarsFailure as exc:
        at = ("vars",) if exc.index is None else ("vars", exc.index)
        raise InterpolationError(
            exc.msg, path=doc.path, line=doc.line(*at), hint=exc.hint
        ) from None
    return context


def _from_base(base: str, path: str) -> str:
    return posixpath.normpath(posixpath.join(base, path))
