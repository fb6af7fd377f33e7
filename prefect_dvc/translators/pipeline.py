"""The pipeline as plain data: stages, their deps and outs, and the graph.

Provides:
    Out, ParamsDep, StageSpec: one resolved stage of ``dvc.yaml`` (frozen).
    Pipeline: the stages plus the edges between them, checked once in
        :meth:`Pipeline.build` (cycles, shared outs, overlapping outs, paths
        leaving the repository).

Nothing here touches Prefect, Git or the filesystem: the translator builds
these from YAML, and everything downstream (status, the flow, the lock file)
reads them. Paths come in two spellings and the names say which: ``path`` as
written in ``dvc.yaml`` (relative to the stage's ``wdir``, the spelling of
``dvc.lock``), and ``repo_path`` relative to the repository root (the
spelling the graph is built on).
"""

from __future__ import annotations

import graphlib
import itertools
import posixpath
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from prefect_dvc.errors import PipelineError
from prefect_dvc.external import is_external, is_url

OutKind = Literal["out", "metric", "plot"]


def join_repo_path(wdir: str, path: str) -> str:
    """Return ``path`` (relative to ``wdir``) relative to the repository root.

    Raises:
        PipelineError: when the result leaves the repository.
    """
    if posixpath.isabs(path):
        raise PipelineError(
            f"path '{path}' is absolute", hint="Use a path relative to the stage's wdir"
        )
    joined = posixpath.normpath(posixpath.join(wdir, path))
    if joined == ".." or joined.startswith("../"):
        raise PipelineError(
            f"path '{path}' leaves the repository",
            hint="Keep deps and outs inside the repository",
        )
    return joined


@dataclass(frozen=True)
class Out:
    """One entry of a stage's ``outs``, ``metrics`` or ``plots``.

    ``cache=False`` outs are tracked by Git instead of the cache; ``persist``
    and ``checkpoint`` outs are not deleted before the command runs.
    ``plot_props`` keeps the plot rendering options (``x``, ``y``, ``template``...)
    and ``annotations`` the free-form ``desc``/``type``/``labels``/``meta``.
    """

    path: str
    repo_path: str
    kind: OutKind = "out"
    cache: bool = True
    persist: bool = False
    checkpoint: bool = False
    push: bool = True
    remote: str | None = None
    plot_props: Mapping[str, Any] = field(default_factory=dict)
    annotations: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_metric_or_plot(self) -> bool:
        return self.kind in ("metric", "plot")

    @property
    def is_external(self) -> bool:
        """Outside the repository (``cache: false`` only): hashed, never deleted or cached."""
        return is_external(self.repo_path)


@dataclass(frozen=True)
class ParamsDep:
    """The params a stage depends on in one file.

    ``keys`` are dotted key paths (``train.lr``) in file order; ``None`` means
    the whole file is tracked (``{file: null}`` in ``dvc.yaml``).
    """

    path: str
    repo_path: str
    keys: tuple[str, ...] | None


@dataclass(frozen=True)
class StageSpec:
    """One stage after interpolation and ``foreach``/``matrix`` expansion.

    Attributes:
        name: the name in ``dvc.lock`` (``train``, ``featurize@small``); in
            the index, DVC's addressing (``sub/dvc.yaml:train``, see ``lock_name``).
        cmd: the resolved command, a string or a tuple of commands run in turn.
        wdir: the working directory relative to the repository root.
        deps: file and directory deps, as written (relative to ``wdir``).
        dep_repo_paths: the same deps relative to the repository root; an
            external dep (``external.py``) keeps its URL, absolute path or
            ``../x`` form, so ``root / path`` still names a local one.
        params: tracked params, one entry per file.
        outs: outs, metrics and plots in ``dvc.yaml`` order.
        dvcfile: the ``dvc.yaml`` the stage comes from, relative to the root.
        line: the line of the stage in ``dvcfile`` (for error messages).
    """

    name: str
    cmd: str | tuple[str, ...]
    wdir: str = "."
    deps: tuple[str, ...] = ()
    dep_repo_paths: tuple[str, ...] = ()
    params: tuple[ParamsDep, ...] = ()
    outs: tuple[Out, ...] = ()
    frozen: bool = False
    always_changed: bool = False
    desc: str | None = None
    meta: Any = None
    dvcfile: str = "dvc.yaml"
    line: int | None = None

    @property
    def lock_name(self) -> str:
        """The name in the stage's own ``dvc.lock``: ``name`` without the index's file prefix.

        In the index (``translators/index.py``) a stage of ``sub/dvc.yaml``
        is keyed ``sub/dvc.yaml:train``, DVC's addressing; its lock entry is ``train``.
        """
        prefix = f"{self.dvcfile}:"
        if self.dvcfile != "dvc.yaml" and self.name.startswith(prefix):
            return self.name[len(prefix) :]
        return self.name

    @property
    def commands(self) -> tuple[str, ...]:
        """The shell commands to run, one per list element or line (as DVC splits them)."""
        if isinstance(self.cmd, str):
            return tuple(c for c in self.cmd.splitlines() if c.strip())
        return self.cmd

    @property
    def lock_cmd(self) -> str | list[str]:
        """``cmd`` as written to ``dvc.lock``: a string, or a list as in ``dvc.yaml``."""
        return self.cmd if isinstance(self.cmd, str) else list(self.cmd)

    @property
    def is_callback(self) -> bool:
        """A stage with a command but no deps and no outs always runs (DVC's rule)."""
        return not self.deps and not self.params and not self.outs

    @property
    def checkpoint_outs(self) -> tuple[Out, ...]:
        return tuple(o for o in self.outs if o.checkpoint)

    def uncacheable_reason(self) -> str | None:
        """Why DVC would never write a run-cache entry for this stage, or ``None``.

        The rules are DVC 3's (``formats.md`` section 4): callback and
        ``always_changed`` stages, stages without deps or outs, a URL dep, an
        out outside the repository (``_can_hash`` in ``dvc/stage/cache.py``),
        any ``persist`` out, and any non-metric, non-plot out with ``cache: false``.
        """
        if self.always_changed:
            return "it is always_changed"
        if self.is_callback:
            return "it has no deps and no outs"
        if not (self.deps or self.params):
            return "it has no deps"
        if not self.outs:
            return "it has no outs"
        for dep in self.dep_repo_paths:
            if is_url(dep):
                return f"dep '{dep}' is not a local file"
        for out in self.outs:
            if out.is_external:
                return f"out '{out.path}' is outside the repository"
            if out.persist or out.checkpoint:
                return f"out '{out.path}' is persist"
            if not out.cache and not out.is_metric_or_plot:
                return f"out '{out.path}' has cache: false"
        return None


@dataclass(frozen=True)
class Pipeline:
    """All stages of a project and the graph between them.

    ``upstream[name]`` lists the stages whose outs ``name`` reads, in
    ``dvc.yaml`` order. Build it with :meth:`build`, which checks the graph.
    """

    stages: Mapping[str, StageSpec]
    upstream: Mapping[str, tuple[str, ...]]
    params_files: tuple[str, ...] = ()
    metrics_files: tuple[str, ...] = ()
    plots: tuple[Any, ...] = ()
    artifacts: Mapping[str, Any] = field(default_factory=dict)
    # NOTE: outs of the repository's .dvc files (repo path -> .dvc file): deps
    # on them are produced by no stage; stage outs may not overlap them.
    tracked: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def build(cls, stages: Iterable[StageSpec], **top_level: Any) -> Pipeline:
        """Connect ``stages`` by their outs and deps and check the graph.

        Raises:
            PipelineError: a cycle, two stages with one out, overlapping outs.
        """
        by_name: dict[str, StageSpec] = {}
        for stage in stages:
            if stage.name in by_name:
                raise PipelineError(
                    "stage is defined twice",
                    path=stage.dvcfile,
                    line=stage.line,
                    stage=stage.name,
                    hint="Rename one of the two stages",
                )
            by_name[stage.name] = stage
        _check_one_checkpoint_stage(by_name.values())
        owners = _out_owners(by_name.values())
        upstream = {name: _upstream_of(stage, owners) for name, stage in by_name.items()}
        _check_acyclic(by_name, upstream)
        return cls(stages=by_name, upstream=upstream, **top_level)

    def tracked_sources(self) -> dict[str, str]:
        """Each dep path of a stage read from a ``.dvc`` file's out: ``{dep: .dvc file}``.

        A dep equal to, or inside, a tracked out is data no stage produces.
        """
        found: dict[str, str] = {}
        for stage in self.stages.values():
            for dep in stage.dep_repo_paths:
                for path, dvcfile in self.tracked.items():
                    if _is_within(dep, path):
                        found[dep] = dvcfile
        return found

    def order(self) -> list[str]:
        """Stage names in DVC's plan order: a depth-first post-order of the graph.

        This is ``plan_repro`` in ``dvc/repo/reproduce.py``
        (``nx.dfs_postorder_nodes``): stages are visited in ``dvc.yaml``
        order, and each one comes right after its upstream stages, visited in
        the order of its deps. DVC runs stages serially in this order, so it
        is also the order in which DVC appends ``dvc.lock`` entries and
        ``.gitignore`` lines; writers use it to give the same bytes whatever
        finishes first. It is a topological order.
        """
        return self._postorder(set(self.stages))

    def _postorder(self, chosen: set[str]) -> list[str]:
        """``nx.dfs_postorder_nodes`` of the subgraph of ``chosen`` (DVC's ``plan_repro``)."""
        seen: set[str] = set()
        result: list[str] = []
        for start in (name for name in self.stages if name in chosen):
            if start in seen:
                continue
            seen.add(start)
            stack = [(start, iter(self.upstream[start]))]
            while stack:
                node, ups = stack[-1]
                nxt = next((u for u in ups if u in chosen and u not in seen), None)
                if nxt is None:
                    stack.pop()
                    result.append(node)
                else:
                    seen.add(nxt)
                    stack.append((nxt, iter(self.upstream[nxt])))
        return result

    def downstream(self) -> dict[str, list[str]]:
        """The reverse of ``upstream``: who reads each stage's outs."""
        result: dict[str, list[str]] = {name: [] for name in self.stages}
        for name, ups in self.upstream.items():
            for up in ups:
                result[up].append(name)
        return result

    def select(
        self, targets: Iterable[str], *, downstream: bool = False, single: bool = False
    ) -> list[str]:
        """The stages to run for ``targets``, in DVC's plan order (topological).

        By default a target brings in everything it depends on (as ``dvc
        repro`` does); ``single`` takes only the targets, ``downstream`` the
        targets and everything that depends on them. A target is a stage name
        or a ``foreach``/``matrix`` group name (``featurize`` selects every
        ``featurize@...``).
        """
        chosen = self._expand_targets(targets)
        if not single:
            edges = self.downstream() if downstream else self.upstream
            todo = list(chosen)
            while todo:
                for nxt in edges[todo.pop()]:
                    if nxt not in chosen:
                        chosen.add(nxt)
                        todo.append(nxt)
        return self._postorder(chosen)

    def _expand_targets(self, targets: Iterable[str]) -> set[str]:
        chosen: set[str] = set()
        for target in targets:
            target = target.split(":")[-1] if target.startswith(("dvc.yaml:", "./")) else target
            group = [n for n in self.stages if n.rpartition("@")[0] == target]
            if target in self.stages:
                chosen.add(target)
            elif group:
                chosen.update(group)
            else:
                raise PipelineError(
                    f"stage '{target}' not found in dvc.yaml",
                    hint=f"Known stages: {', '.join(self.stages) or 'none'}",
                )
        return chosen

    def iter_outs(self) -> Iterator[tuple[StageSpec, Out]]:
        for stage in self.stages.values():
            for out in stage.outs:
                yield stage, out


def _is_within(path: str, parent: str) -> bool:
    return parent == "." or path == parent or path.startswith(parent + "/")


def _out_owners(stages: Iterable[StageSpec]) -> dict[str, str]:
    """Map each out's repo path to its stage; reject shared and overlapping outs."""
    owners: dict[str, tuple[str, StageSpec]] = {}
    for stage in stages:
        for out in stage.outs:
            if out.repo_path in owners:
                other = owners[out.repo_path][0]
                who = f"stage '{other}'" if other != stage.name else "the same stage twice"
                raise PipelineError(
                    f"output '{out.repo_path}' is also specified in {who}",
                    path=stage.dvcfile,
                    line=stage.line,
                    stage=stage.name,
                    hint="Each output must belong to exactly one stage",
                )
            owners[out.repo_path] = (stage.name, stage)
    paths = sorted(owners)
    for first, second in itertools.pairwise(paths):
        if _is_within(second, first):
            a, b = owners[first][1], owners[second][1]
            raise PipelineError(
                f"output '{second}' is inside output '{first}' of stage '{a.name}'",
                path=b.dvcfile,
                line=b.line,
                stage=b.name,
                hint="Track the directory or the files in it, not both",
            )
    return {path: owner[0] for path, owner in owners.items()}


def _upstream_of(stage: StageSpec, owners: Mapping[str, str]) -> tuple[str, ...]:
    """Stages owning an out that ``stage`` reads: the dep itself, a parent or a child."""
    found: list[str] = []
    for dep in (*stage.dep_repo_paths, *(p.repo_path for p in stage.params)):
        for out_path, owner in owners.items():
            if _is_within(dep, out_path) or _is_within(out_path, dep):
                if owner == stage.name:
                    raise PipelineError(
                        f"'{dep}' is both a dependency and an output of the stage",
                        path=stage.dvcfile,
                        line=stage.line,
                        stage=stage.name,
                        hint="Write the result to a different path",
                    )
                if owner not in found:
                    found.append(owner)
    return tuple(found)


def _check_one_checkpoint_stage(stages: Iterable[StageSpec]) -> None:
    """DVC 2 allowed one checkpoint stage per pipeline: the signal names no stage."""
    found = [stage for stage in stages if stage.checkpoint_outs]
    if len(found) > 1:
        first, second = found[0], found[1]
        raise PipelineError(
            f"stages '{first.name}' and '{second.name}' both have 'checkpoint: true' outs",
            path=second.dvcfile,
            line=second.line,
            stage=second.name,
            hint="A pipeline may have one checkpoint stage; use 'persist: true' for the others",
        )


def _check_acyclic(
    stages: Mapping[str, StageSpec], upstream: Mapping[str, tuple[str, ...]]
) -> None:
    try:
        graphlib.TopologicalSorter(upstream).prepare()
    except graphlib.CycleError as exc:
        cycle = list(dict.fromkeys(exc.args[1]))
        first = stages[cycle[0]]
        raise PipelineError(
            f"stages {' -> '.join(exc.args[1])} form a cycle",
            path=first.dvcfile,
            line=first.line,
            hint="A stage cannot depend, directly or not, on its own outputs",
        ) from None


_OVERLAP = (
    "The output paths:\n'{parent}'('{parent_owner}')\n'{child}'('{child_owner}')\n"
    "overlap and are thus in the same tracked directory.\n"
    "To keep reproducibility, outputs should be in separate tracked directories or "
    "tracked individually."
)


def check_tracked_outs(pipeline: Pipeline) -> None:
    """Stage outs against the outs of ``.dvc`` files (``pipeline.tracked``), as DVC's graph.

    DVC 3.67.1 (``dvc/repo/graph.py::check_graph``): the same path in a
    stage and a ``.dvc`` file is ``OutputDuplicationError``, one inside the
    other ``OverlappingOutputPathsError``; both in DVC's words. Running such
    a stage would delete tracked data before its command runs.

    Raises:
        PipelineError: naming the stage (file and line) and the ``.dvc`` file.
    """
    for stage in pipeline.stages.values():
        for out in stage.outs:
            for path, dvcfile in pipeline.tracked.items():
                message = _tracked_clash(out.repo_path, stage.name, path, dvcfile)
                if message is not None:
                    raise PipelineError(
                        message, path=stage.dvcfile, line=stage.line, stage=stage.name
                    )


def _tracked_clash(out: str, stage: str, path: str, dvcfile: str) -> str | None:
    if out == path:
        listed = " ".join(f"- {name}" for name in sorted((stage, dvcfile)))
        return (
            f"output '{out}' is specified in: {listed} Use `dvc remove` with any of the "
            "above targets to stop tracking the overlapping output."
        )
    if _is_within(out, path):
        return _OVERLAP.format(parent=path, parent_owner=dvcfile, child=out, child_owner=stage)
    if _is_within(path, out):
        return _OVERLAP.format(parent=out, parent_owner=stage, child=path, child_owner=dvcfile)
    return None
