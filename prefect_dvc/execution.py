"""Execute one stage: skip it, restore it from the run-cache, or run it.

Provides:
    RunOptions: the switches of ``repro``/``exp run`` that concern one stage.
    Outcome, StageResult: what happened to a stage, with its lock entry.
    StageExecutor: everything a stage needs (hasher, stores, lock file,
        command runner), shared by all stage tasks of one run.

The Prefect task in ``tasks/stage.py`` is a thin wrapper around
:meth:`StageExecutor.run`; nothing here imports Prefect, so the same logic
serves ``status``, ``repro --dry`` and tests without a server.

The order inside :meth:`StageExecutor.run` is DVC's: up to date -> skip;
run-cache hit (local, then the default remote) -> restore; otherwise delete
the outs (unless persist/checkpoint), run, check and hash the outs, save
them to the cache, then write the run-cache entry. The lock entry is written
only after the stage fully succeeded, and the run-cache entry only after its
objects are in the cache, so a failed or killed stage leaves neither behind.
"""

from __future__ import annotations

import enum
import logging
import os
import posixpath
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from prefect_dvc.config import load_config
from prefect_dvc.errors import (
    CorruptObjectError,
    MissingObjectError,
    MissingOutputError,
    PrefectDvcError,
    StageError,
    StageFailedError,
)
from prefect_dvc.external import is_url
from prefect_dvc.gitignore import IgnoreWriter
from prefect_dvc.lockfile import Entry, build_entry
from prefect_dvc.locks import command_running, stage_guard
from prefect_dvc.lockset import LockSet
from prefect_dvc.repo import RepoPaths
from prefect_dvc.safety import remove_workspace_path
from prefect_dvc.shell import CommandRunner, ShellRunner
from prefect_dvc.status import StageStatus, compute_status, hash_deps, hash_outs_keeping_legacy
from prefect_dvc.storage import links
from prefect_dvc.storage.hashinfo import HashInfo
from prefect_dvc.storage.hashing import Hasher
from prefect_dvc.storage.state import StateDB
from prefect_dvc.storage.stores import Stores, open_stores
from prefect_dvc.translators.params import read_stage_params
from prefect_dvc.translators.pipeline import Pipeline, StageSpec

logger = logging.getLogger(__name__)

LogFn = Callable[[str], None]


class CheckpointHook(Protocol):
    """Watches a stage's command for checkpoint signals (``checkpoints/recorder.py``)."""

    def watch(
        self, executor: StageExecutor, stage: StageSpec, status: StageStatus
    ) -> AbstractContextManager[dict[str, str]]:
        """Active while the command runs; yields env to add; raises on a failed signal."""
        ...


@dataclass(frozen=True)
class RunOptions:
    """Per-stage switches: ``force`` re-runs, ``use_run_cache=False`` skips the lookup.

    ``checkpoints`` is set by ``exp run`` only: checkpoint stages then always
    run, with the hook answering their signals. Without it (``repro``) a
    checkpoint stage that needs to run is refused, as in DVC 2.
    """

    force: bool = False
    use_run_cache: bool = True
    pull: bool = False
    env: Mapping[str, str] = field(default_factory=dict)
    checkpoints: CheckpointHook | None = None


class Outcome(str, enum.Enum):
    UP_TO_DATE = "up to date"
    RESTORED = "restored from run-cache"
    RAN = "ran"


@dataclass(frozen=True)
class StageResult:
    """What happened to one stage; ``entry`` is its lock entry."""

    name: str
    outcome: Outcome
    entry: Entry
    seconds: float
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlannedRun:
    """A stage :meth:`StageExecutor.plan` found changed: its status and run-cache key entry.

    ``key_entry`` is the lock entry without out hashes (cmd, deps, params,
    out paths): the run-cache key a worker looks up; ``start`` is
    ``time.monotonic()`` when planning began.
    """

    stage: StageSpec
    status: StageStatus
    key_entry: Entry
    reasons: tuple[str, ...]
    start: float


class StageExecutor:
    """Runs stages of one pipeline in one workspace; safe to share between threads."""

    def __init__(
        self,
        paths: RepoPaths,
        pipeline: Pipeline,
        *,
        hasher: Hasher,
        stores: Stores,
        lock: LockSet,
        runner: CommandRunner | None = None,
        ignores: IgnoreWriter | None = None,
    ) -> None:
        self.paths = paths
        self.pipeline = pipeline
        self.hasher = hasher
        self.stores = stores
        self.lock = lock
        self.runner = runner or ShellRunner()
        # NOTE: one writer per run, so .gitignore lines land in plan order.
        self.ignores = ignores or IgnoreWriter(paths.root, pipeline.order())

    @property
    def root(self) -> Path:
        return self.paths.root

    def close(self) -> None:
        """Release the state DB and stop the ``git check-ignore`` helper; not used afterwards."""
        try:
            self.hasher.close()
        finally:
            self.ignores.close()

    def __enter__(self) -> StageExecutor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def status(self, name: str) -> StageStatus:
        stage = self.pipeline.stages[name]
        return compute_status(self.root, stage, self.lock.read().get(name), self.hasher)

    def run(self, name: str, options: RunOptions, log: LogFn) -> StageResult:
        """Bring stage ``name`` up to date; raises a :class:`StageError` on failure.

        Runs under DVC's locks (``locks.stage_guard``): the repository lock,
        let go only while the command runs, and read locks on the deps and
        outs plus write locks on the outs, from the status check until the
        lock and run-cache entries are written. Raises ``LockError`` when
        another process holds them.
        """
        with stage_guard(self.root, name, *_guarded_paths(self.root, self.pipeline.stages[name])):
            return self._run(name, options, log)

    def _run(self, name: str, options: RunOptions, log: LogFn) -> StageResult:
        planned = self.plan(name, options, log)
        if isinstance(planned, StageResult):
            return planned
        stage, status, key_entry = planned.stage, planned.status, planned.key_entry
        start, reasons = planned.start, planned.reasons
        # NOTE: a forced stage runs its command; the run-cache serves unforced
        # runs only, as DVC's maintainers state for `repro -f`.
        if options.use_run_cache and not options.force and stage.uncacheable_reason() is None:
            restored = self._restore_from_run_cache(stage, key_entry, log)
            if restored is not None:
                self._finish(stage, restored)
                return StageResult(
                    name, Outcome.RESTORED, restored, time.monotonic() - start, reasons
                )
        entry = self._execute(stage, status, options, log)
        return StageResult(name, Outcome.RAN, entry, time.monotonic() - start, reasons)

    def plan(self, name: str, options: RunOptions, log: LogFn) -> StageResult | PlannedRun:
        """Decide stage ``name`` without running it: a final result, or what must run.

        Returns a :class:`StageResult` when nothing is left to do (up to date,
        frozen, or ``--pull`` restored its outs), else a :class:`PlannedRun`
        with the status and the run-cache key entry (DVC's order of checks).
        The caller holds the stage's locks (:meth:`run` does).

        Raises:
            StageError: a missing dep or param, as :meth:`run` raises it.
        """
        start = time.monotonic()
        stage = self.pipeline.stages[name]
        status = self.status(name)
        if stage.frozen:
            return self._frozen(stage, status, start)
        if status.missing_deps and status.missing_deps[0] in self.pipeline.tracked_sources():
            dep = status.missing_deps[0]
            # DVC verifies data sources first: its words (dvc/stage/__init__.py)
            raise StageError(
                f"failed to reproduce '{self.pipeline.tracked_sources()[dep]}': "
                f"missing data 'source': {dep}",
                hint="Restore it with 'prefect-dvc checkout' or 'prefect-dvc pull'",
            )
        if status.missing_deps:
            raise StageError(
                f"dependency '{status.missing_deps[0]}' does not exist",
                path=stage.dvcfile,
                line=stage.line,
                stage=name,
                hint="Create it, or add a stage whose outs produce it",
            )
        if status.params_error is not None:
            # NOTE: status only reports a missing param; running fails on it, as DVC does.
            raise status.params_error
        reasons = tuple(str(c) for c in status.changes) or (("forced",) if options.force else ())
        # NOTE: a checkpoint stage is always changed under exp run (DVC 2): it resumes.
        resumes = options.checkpoints is not None and bool(stage.checkpoint_outs)
        if not status.changed and not options.force and not resumes:
            entry = self.lock.read()[name]
            return StageResult(name, Outcome.UP_TO_DATE, entry, time.monotonic() - start)
        if options.pull and not options.force and _only_outs_missing(status):
            entry = self._restore_from_lock(stage, log)
            return StageResult(name, Outcome.RESTORED, entry, time.monotonic() - start, reasons)
        key_entry = build_entry(stage, status.deps, status.params, _out_paths(stage))
        return PlannedRun(stage, status, key_entry, reasons, start)

    def _frozen(self, stage: StageSpec, status: StageStatus, start: float) -> StageResult:
        missing = [path for path, info in status.outs.items() if info is None]
        if missing:
            raise StageError(
                f"frozen stage is missing its out '{missing[0]}'",
                path=stage.dvcfile,
                line=stage.line,
                stage=stage.name,
                hint="Unfreeze the stage or restore the out with 'prefect-dvc checkout'",
            )
        entry = self.lock.read().get(stage.name) or {"cmd": stage.lock_cmd}
        return StageResult(stage.name, Outcome.UP_TO_DATE, entry, time.monotonic() - start)

    def _restore_from_run_cache(
        self, stage: StageSpec, key_entry: Entry, log: LogFn
    ) -> Entry | None:
        """Restore the newest run-cache entry whose outs can be restored, or ``None``.

        Entries are tried newest first; one whose objects are gone (``gc``)
        or corrupt is skipped for the next older one, where DVC gives up.
        """
        for entry, source in self.stores.candidate_runs(key_entry):
            try:
                restored = self._restore_entry(stage, entry)
            except (MissingObjectError, CorruptObjectError) as exc:
                logger.warning("run-cache entry in %s cannot be restored: %s", source, exc)
                continue
            if restored:
                log(f"Stage '{stage.name}' restored from run-cache ({source}), command not run")
                return entry
        return None

    def _restore_entry(self, stage: StageSpec, entry: Entry) -> bool:
        outs = {o["path"]: o for o in entry.get("outs") or []}
        infos = {out.path: HashInfo.from_lock(outs.get(out.path) or {}) for out in stage.outs}
        if any(info is None for info in infos.values()):
            return False
        self.stores.ensure_local([info for info in infos.values() if info])
        for out in stage.outs:
            info = infos[out.path]
            assert info is not None
            self.stores.checkout(info, self.root / out.repo_path)
        return True

    def _restore_from_lock(self, stage: StageSpec, log: LogFn) -> Entry:
        """``--pull``: the stage is unchanged but its outs are gone; fetch them."""
        entry = self.lock.read()[stage.name]
        outs = {o["path"]: HashInfo.from_lock(o) for o in entry.get("outs") or []}
        infos = [info for info in outs.values() if info is not None]
        self.stores.ensure_local(infos)
        for out in stage.outs:
            info = outs.get(out.path)
            if info is not None and not out.is_external:
                self.stores.checkout(info, self.root / out.repo_path)
        log(f"Stage '{stage.name}' is unchanged; outs pulled from the cache, command not run")
        return entry

    def _execute(
        self, stage: StageSpec, status: StageStatus, options: RunOptions, log: LogFn
    ) -> Entry:
        if stage.checkpoint_outs and options.checkpoints is None:
            raise StageError(
                "checkpoint stages are not supported in 'repro'",
                path=stage.dvcfile,
                line=stage.line,
                stage=stage.name,
                hint="Checkpoint stages must be reproduced with 'prefect-dvc exp run'",
            )
        for out in stage.outs:
            # NOTE: an external (cache: false) out is the user's file: never deleted.
            if not (out.persist or out.checkpoint or out.is_external):
                remove_workspace_path(self.root, out.repo_path)
            elif out.cache and not out.is_external:
                self.stores.unprotect(self.root / out.repo_path)
        cwd = self.root / stage.wdir
        log(f"Running stage '{stage.name}':")
        for command in stage.commands:
            log(f"> {command}")
        if options.checkpoints is None:
            with command_running(self.root):
                result = self.runner.run(
                    stage.commands, cwd=cwd, env=self._env(stage, options), on_line=log
                )
        else:
            with options.checkpoints.watch(self, stage, status) as extra:
                env = {**self._env(stage, options), **extra}
                with command_running(self.root):
                    result = self.runner.run(stage.commands, cwd=cwd, env=env, on_line=log)
        if not result.ok:
            raise StageFailedError(
                f"command '{result.command}' failed with exit code {result.returncode}"
                + (f"; last output: {result.tail[-1]}" if result.tail else ""),
                returncode=result.returncode,
                tail="\n".join(result.tail),
                path=stage.dvcfile,
                line=stage.line,
                stage=stage.name,
                hint="Fix the command and run again",
            )
        return self._commit_outs(stage, status)

    def _commit_outs(self, stage: StageSpec, status: StageStatus) -> Entry:
        missing = [o.path for o in stage.outs if not (self.root / o.repo_path).exists()]
        if missing:
            raise MissingOutputError(
                f"the command did not create its out '{missing[0]}'",
                path=stage.dvcfile,
                line=stage.line,
                stage=stage.name,
                hint="Make the command write it, or remove it from the stage's outs",
            )
        hashed = hash_outs_keeping_legacy(
            self.root, stage, self.hasher, self.lock.read().get(stage.name)
        )
        cacheable = stage.uncacheable_reason() is None
        out_entries = []
        for out, (info, tree) in zip(stage.outs, hashed):
            out_entries.append(info.to_lock(out.path))
            # NOTE: cache: false metrics and plots still go to the cache when a
            # run-cache entry is written, so the entry can be restored (as DVC).
            if out.cache or cacheable:
                self.stores.save(self.root / out.repo_path, info, tree)
            if out.cache and not out.is_external:
                self.stores.relink(info, self.root / out.repo_path)
        entry = build_entry(stage, status.deps, status.params, out_entries)
        if cacheable and self._inputs_unchanged(stage, status):
            self.stores.save_run(entry)
        self._finish(stage, entry)
        return entry

    def _inputs_unchanged(self, stage: StageSpec, before: StageStatus) -> bool:
        """Deps and params still hash as when the run started (else no run-cache entry).

        The rwlock keeps DVC and prefect-dvc out, but not an editor or a
        stray script; an entry keyed by inputs the outs were not made from
        would later restore the wrong outs.
        """
        locked = (self.lock.read().get(stage.name) or {}).get("deps") or []
        deps, _missing = hash_deps(self.root, stage, self.hasher, locked)
        try:
            params = read_stage_params(self.root, stage).values
        except PrefectDvcError:
            params = {}
        if tuple(deps) == tuple(before.deps) and params == dict(before.params):
            return True
        logger.warning(
            "Stage '%s': a dependency changed while its command ran; no run-cache entry written",
            stage.name,
        )
        return False

    def _finish(self, stage: StageSpec, entry: Entry) -> None:
        self.ignores.ignore_outs(stage.name, [out.repo_path for out in stage.outs if out.cache])
        self.lock.update(stage.name, entry)

    def commit(self, name: str, status: StageStatus) -> Entry:
        """Record stage ``name`` as it is now without running it (``dvc commit``).

        Its outs are hashed and cached, its lock entry is rebuilt from
        ``status`` (the deps and params as they are now) and written, as
        DVC's ``Stage.save`` + ``Stage.commit`` do.

        Raises:
            MissingOutputError: an out is missing from the workspace.
            LockError: another process holds the stage's paths.
        """
        with stage_guard(self.root, name, *_guarded_paths(self.root, self.pipeline.stages[name])):
            return self._commit_outs(self.pipeline.stages[name], status)

    def _env(self, stage: StageSpec, options: RunOptions) -> dict[str, str]:
        return stage_env(self.root, stage, options.env)

    def commit_stage(self, name: str) -> Entry:
        """``dvc commit --force`` of one stage: record its deps and outs as they are now.

        The outs are hashed and cached, the run-cache entry and the
        ``dvc.lock`` entry written, as after a run, without running the
        command (``exp save`` does this for every stage, as DVC's does).

        Raises:
            StageError: a dep or an out does not exist (DVC: "does not exist").
        """
        stage = self.pipeline.stages[name]
        status = self.status(name)
        missing = self.commit_missing(name, status)
        if missing:
            raise StageError(
                f"cannot commit: '{missing[0]}' does not exist",
                path=stage.dvcfile,
                line=stage.line,
                stage=name,
                hint="Run the stage ('prefect-dvc repro') or restore the file first",
            )
        return self._commit_outs(stage, status)

    def commit_missing(self, name: str, status: StageStatus | None = None) -> list[str]:
        """Deps and outs of stage ``name`` that do not exist (:meth:`commit_stage` refuses them)."""
        stage = self.pipeline.stages[name]
        status = status or self.status(name)
        gone = [o.path for o in stage.outs if not (self.root / o.repo_path).exists()]
        return [*status.missing_deps, *gone]

    def execute(self, planned: PlannedRun, options: RunOptions, log: LogFn) -> Entry:
        """Run a planned stage's command here and commit its outs (no run-cache lookup).

        The cluster worker calls this in its scratch copy of the workspace
        (``cluster/worker.py``); :meth:`run` does the same after its lookup.
        """
        return self._execute(planned.stage, planned.status, options, log)

    def adopt(self, name: str, entry: Entry) -> None:
        """Record ``entry`` as stage ``name``'s result: ``.gitignore`` lines and ``dvc.lock``.

        The cluster driver calls this after checking the stage's outs out of the store.
        """
        self._finish(self.pipeline.stages[name], entry)


def open_executor(
    root: Path,
    pipeline: Pipeline,
    *,
    dvcfile: str = "dvc.yaml",
    remote: str | None = None,
    use_remote: bool = True,
    runner: CommandRunner | None = None,
    plan: Sequence[str] | None = None,
    consult_remote: bool = False,
) -> StageExecutor:
    """A :class:`StageExecutor` for the project at ``root``, configured by ``.dvc/config``.

    The hasher remembers file hashes in the state DB under ``.dvc/tmp``, so
    the status of an unchanged pipeline costs a ``stat`` per file. ``plan``
    is the run's stage order (default: the whole pipeline's); new
    ``dvc.lock`` entries and ``.gitignore`` lines land in that order.
    ``use_remote=False`` never opens the remote; ``consult_remote`` only
    consults it, going on without it when it is unusable (``open_stores``).
    """
    paths = RepoPaths(root)
    config = load_config(root)
    hasher = Hasher(StateDB(paths.state_db), root=paths.root)
    try:
        stores = open_stores(
            paths, config, hasher, remote_name=remote, use_remote=use_remote, consult=consult_remote
        )
        links.sweep_leftovers(root / o.repo_path for s in pipeline.stages.values() for o in s.outs)
    except BaseException:
        hasher.close()  # NOTE: a refused config must not leak the state DB connection
        raise
    order = list(plan) if plan is not None else pipeline.order()
    lock = LockSet(paths, pipeline, order)
    return StageExecutor(
        paths,
        pipeline,
        hasher=hasher,
        stores=stores,
        lock=lock,
        runner=runner,
        ignores=IgnoreWriter(root, order),
    )


def _guarded_paths(root: Path, stage: StageSpec) -> tuple[list[Path], list[Path]]:
    """Absolute paths a stage reads (deps, params files) and writes (outs), as DVC locks them."""
    reads = [
        root / p
        for p in (*stage.dep_repo_paths, *(p.repo_path for p in stage.params))
        if not is_url(p)
    ]
    return reads, [root / o.repo_path for o in stage.outs]


def _only_outs_missing(status: StageStatus) -> bool:
    return bool(status.changes) and all(
        c.kind == "out" and c.what == "deleted" for c in status.changes
    )


def _out_paths(stage: StageSpec) -> Sequence[dict[str, Any]]:
    return [{"path": out.path} for out in stage.outs]


def stage_env(root: Path, stage: StageSpec, run_env: Mapping[str, str]) -> dict[str, str]:
    """The environment of a stage's command, as DVC 3 builds it (``stage/run.py``).

    This process's environment, then ``run_env`` (``exp run`` passes
    ``DVC_EXP_BASELINE_REV``, ``DVC_EXP_NAME`` and ``DVC_ROOT``, as DVC's
    ``queue/base.py`` does), then ``DVC_ROOT`` if still unset, then
    ``DVC_STAGE`` = the stage's address: its name in the root ``dvc.yaml``,
    else ``<dvcfile>:<name>`` (DVC's ``PipelineStage.addressing``). DVCLive
    reads these to know it runs inside a pipeline or an experiment.
    """
    env = dict(os.environ)
    env.update(run_env)
    env.setdefault("DVC_ROOT", str(root))
    dvcfile = posixpath.normpath(stage.dvcfile)
    # NOTE: stages loaded from the index are already named by their address.
    addressed = dvcfile == "dvc.yaml" or ":" in stage.name
    env["DVC_STAGE"] = stage.name if addressed else f"{dvcfile}:{stage.lock_name}"
    return env
