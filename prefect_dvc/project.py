"""Project-level data operations that combine config, lock files and stores.

Provides:
    open_stores_for(root, ...): the hasher and stores of ``.dvc/config``.
    restore_outs(root): make the workspace's cached outs match ``dvc.lock``
        (after ``exp apply``), fetching from the remote when needed.
    push_experiment_objects / fetch_experiment_objects: the outs named by
        the ``dvc.lock`` of every commit of the given experiments.
    missing_experiment_outs(root, sha): the outs ``exp apply`` could not
        restore (after fetching what the default remote has).
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from prefect_dvc.config import load_config
from prefect_dvc.errors import GitError, MissingObjectError, PrefectDvcError
from prefect_dvc.experiments.git import Git
from prefect_dvc.lockset import LockSet
from prefect_dvc.repo import RepoPaths
from prefect_dvc.storage import sync
from prefect_dvc.storage.hashinfo import HashInfo
from prefect_dvc.storage.hashing import Hasher
from prefect_dvc.storage.state import StateDB
from prefect_dvc.storage.stores import Stores, open_stores
from prefect_dvc.storage.tracked_objects import data_outs, dvcfile_outs_at
from prefect_dvc.translators.index import dvcfiles_of, load_index
from prefect_dvc.translators.targets import Scope
from prefect_dvc.yamlio import parse_yaml

if TYPE_CHECKING:
    # NOTE: types only: repro and status reach this module and never need
    # the exp show stack (experiments.collect).
    from prefect_dvc.experiments.collect import ShowFiles
    from prefect_dvc.experiments.refs import ExpRef


def open_stores_for(
    root: Path, *, remote: str | None = None, use_remote: bool = True, jobs: int | None = None
) -> tuple[Stores, Hasher]:
    """The stores of ``.dvc/config`` and the hasher they verify with; close the hasher after."""
    paths = RepoPaths(root)
    hasher = Hasher(StateDB(paths.state_db), root=paths.root)
    stores = open_stores(
        paths, load_config(root), hasher, remote_name=remote, use_remote=use_remote, jobs=jobs
    )
    return stores, hasher


def workspace_outs(
    root: Path, targets: Sequence[str] = (), dvcfile: str = "dvc.yaml"
) -> list[sync.UsedOut]:
    """Cached outs of every pipeline with the hashes their ``dvc.lock`` files record.

    ``targets`` are read from the current folder as DVC reads them
    (``translators/targets.py``); ``dvcfile`` is kept for callers and unused:
    ``push``/``pull``/``fetch``/``checkout`` cover the whole index.
    """
    del dvcfile
    pipeline = load_index(root)
    keys = Scope.here(root).select(pipeline, targets, outs=True) if targets else []
    lock = LockSet(RepoPaths(root), pipeline, pipeline.order()).read()
    return sync.used_outs(pipeline, lock, keys)


def restore_outs(root: Path) -> list[str]:
    """Check out every cached out whose workspace copy differs from dvc.lock or its .dvc file."""
    config = load_config(root)
    stores, hasher = open_stores_for(root, use_remote=config.default_remote is not None)
    try:
        outs = data_outs(root)  # every pipeline's outs and every .dvc file's (data.xml.dvc)
        local = stores.local.existing([o.info.oid for o in outs])
        absent = [o.info for o in outs if o.info.oid not in local]
        # NOTE: the remote is reached only when something is absent (issue #14 §3).
        if absent and stores.remote is not None:
            stores.ensure_local(absent)
        restored, _missing = sync.checkout(root, stores, outs, lambda p: hasher.hash_path(p)[0].md5)
    finally:
        hasher.close()
    return restored


def _commit_lock_hashes(root: Path, exps: Sequence[ExpRef]) -> set[str]:
    """Out hashes in the ``dvc.lock`` of every commit from each tip back to its baseline."""
    md5s: set[str] = set()
    for exp in exps:
        revs = subprocess.run(
            ["git", "rev-list", "--first-parent", exp.ref, f"^{exp.baseline}"],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        for rev in revs:
            text = subprocess.run(
                ["git", "show", f"{rev}:./dvc.lock"], cwd=root, capture_output=True, text=True
            ).stdout
            if text:
                md5s |= sync.lock_hashes(text, outs_only=True)
    return md5s


def _as_outs(md5s: set[str]) -> list[sync.UsedOut]:
    return [sync.UsedOut("", "", HashInfo(m, 0)) for m in sorted(md5s)]


def push_experiment_objects(
    root: Path, exps: Sequence[ExpRef], *, remote: str | None, run_cache: bool
) -> sync.SyncReport:
    stores, hasher = open_stores_for(root, remote=remote)
    try:
        wanted = stores.local.existing(_commit_lock_hashes(root, exps))
        return sync.push(stores, _as_outs(wanted), run_cache=run_cache)
    finally:
        hasher.close()


def fetch_experiment_objects(
    root: Path, exps: Sequence[ExpRef], *, remote: str | None, run_cache: bool
) -> sync.SyncReport:
    stores, hasher = open_stores_for(root, remote=remote)
    try:
        return sync.fetch(stores, _as_outs(_commit_lock_hashes(root, exps)), run_cache=run_cache)
    finally:
        hasher.close()


def show_files(root: Path) -> ShowFiles:
    """The params and metrics files ``exp show`` reads, from the resolved pipeline.

    Resolving (rather than reading raw ``dvc.yaml``) gets ``foreach``/``matrix``
    stages and interpolated paths right; DVC's implicit root ``params.yaml``
    is shown where it exists.
    """
    from prefect_dvc.experiments.collect import ShowFiles

    try:
        pipeline = load_index(root)
    except PrefectDvcError:
        return ShowFiles.from_dvcyaml(root)
    params: list[str] = []
    metrics: list[str] = []
    for stage in pipeline.stages.values():
        params.extend(p.repo_path for p in stage.params)
        metrics.extend(o.repo_path for o in stage.outs if o.kind == "metric")
    params.extend(pipeline.params_files)
    metrics.extend(pipeline.metrics_files)
    optional = ("params.yaml",) if "params.yaml" not in params else ()
    return ShowFiles(
        params=tuple(dict.fromkeys([*params, *optional])),
        metrics=tuple(dict.fromkeys(metrics)),
        optional=optional,
        dvcfiles=tuple(dvcfiles_of(pipeline)) or ("dvc.yaml",),
    )


def missing_experiment_outs(root: Path, sha: str) -> list[str]:
    """Cached outs of commit ``sha``'s ``dvc.lock`` that cannot be restored; fetches the rest.

    ``exp apply`` asks this *before* it writes anything: an out is fine when
    the workspace already holds its bytes or the local cache has it; the
    others are fetched from the default remote when one is configured
    (as ``dvc exp apply`` followed by ``dvc pull`` would). Outs tracked by
    Git in that commit (``cache: false``) are Git's business.

    Returns:
        Repo-relative paths of the outs still unavailable, sorted.
    """
    git = Git(root)
    try:
        text = git.run("show", f"{sha}:./dvc.lock")
    except GitError:
        text = ""  # no pipeline ran in that commit; its .dvc files may still track data
    in_git = set(git.run("ls-tree", "-r", "--name-only", "-z", sha).split("\0"))
    outs = [
        (str(item["path"]), info)
        for entry in ((parse_yaml(text) or {}).get("stages") or {}).values()
        for item in entry.get("outs") or []
        if (info := HashInfo.from_lock(item)) is not None and str(item["path"]) not in in_git
    ] + [(p, info) for p, info in dvcfile_outs_at(root, sha) if p not in in_git]
    if not outs:
        return []
    config = load_config(root)
    stores, hasher = open_stores_for(root, use_remote=config.default_remote is not None)
    try:
        present = {p for p, info in outs if _holds(root / p, info, hasher)}
        wanted = [(p, info) for p, info in outs if p not in present]
        if wanted and stores.remote is not None:
            with contextlib.suppress(MissingObjectError):
                stores.ensure_local([info for _, info in wanted])
        have = stores.local.existing([info.oid for _, info in wanted])
    finally:
        hasher.close()
    return sorted({p for p, info in wanted if info.oid not in have})


def _holds(path: Path, info: HashInfo, hasher: Hasher) -> bool:
    """Whether the workspace copy at ``path`` already has the bytes ``info`` names."""
    if not path.exists():
        return False
    try:
        return hasher.hash_path(path, legacy=info.legacy)[0].md5 == info.md5
    except (OSError, PrefectDvcError):
        return False
