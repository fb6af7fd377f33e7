"""The one input set of a run away from the workspace (queue clones, temp folders).

Provides:
    check_copy_paths(root, paths, cwd): validate ``exp run -C/--copy-paths``
        and spell them relative to the repository root.
    place_inputs(root, dest, copy_paths): make a checkout of the baseline
        at ``dest`` hold what the run reads.

Every away-run starts from the committed tree of its baseline and gets:
the workspace's tracked changes (modified, deleted, staged), its untracked
files that Git does not ignore (DVC's queue drops these; we keep them so
the run sees what the user sees), the paths named with DVC's
``-C/--copy-paths`` (copied whole even when Git ignores them), and the
DVC-tracked data that ``dvc.lock`` and the ``.dvc`` files record, checked
out from the shared cache (``.dvc`` data fetched from the remote when the
cache lacks it) as DVC's executor does (``dvc_checkout(force=True,
allow_missing=True)`` in ``dvc/repo/experiments/executor/base.py``).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from prefect_dvc.config import load_config
from prefect_dvc.errors import ConfigError, PrefectDvcError
from prefect_dvc.experiments.commit import is_transient, workspace_changes
from prefect_dvc.project import open_stores_for, workspace_outs
from prefect_dvc.repo import RepoPaths
from prefect_dvc.storage import sync
from prefect_dvc.tracked_data import place_tracked_data

logger = logging.getLogger(__name__)


def check_copy_paths(root: Path, paths: Sequence[str], cwd: Path | None = None) -> list[str]:
    """``paths`` (relative to ``cwd``, default the root) as repo-relative POSIX paths.

    Raises:
        ConfigError: a path that does not exist, leaves the repository, or
            lies in ``.git`` or DVC's transient ``.dvc/tmp``.
    """
    base = (cwd or root).resolve()
    real_root = root.resolve()
    found: list[str] = []
    for given in paths:
        full = Path(os.path.normpath(base / given))
        try:
            rel = full.relative_to(real_root).as_posix()
        except ValueError:
            rel = ""
        bad = rel in ("", ".") or rel.split("/")[0] == ".git" or is_transient(rel)
        if bad or not os.path.lexists(full):
            what = "does not exist" if rel and not bad else "is not a path inside the repository"
            raise ConfigError(
                f"--copy-paths '{given}' {what}",
                path=str(given),
                hint="Name files or folders inside the repository (outside .git and .dvc/tmp)",
            )
        found.append(rel)
    return found


def place_inputs(root: Path, dest: Path, copy_paths: Sequence[str] = ()) -> None:
    """Make ``dest``, a fresh checkout of the baseline, hold the run's inputs.

    ``copy_paths`` are repo-relative (:func:`check_copy_paths`). ``dest``
    then shares the workspace's cache through its ``.dvc/config.local``
    (the workspace's own ``config.local`` with the cache section replaced),
    and the cached outs that ``dest``'s ``dvc.lock`` records are checked out
    from that cache last, so a copied ``dvc.lock`` decides which versions the
    run sees; objects missing from the cache are left out, as DVC does.
    """
    for rel in workspace_changes(root):
        src, target = root / rel, dest / rel
        if os.path.lexists(src):
            _copy(src, target)
        elif os.path.lexists(target):
            _remove(target)
    for rel in copy_paths:
        _copy(root / rel, dest / rel)
    _share_cache(root, dest)
    _checkout_tracked_data(dest)


def _share_cache(root: Path, dest: Path) -> None:
    config = load_config(root)
    cache_dir = config.cache_dir or RepoPaths(root).default_cache_dir
    local = root / ".dvc" / "config.local"
    extra = local.read_text() if local.exists() else ""
    (dest / ".dvc").mkdir(exist_ok=True)
    # NOTE: the cache settings of config.local (per machine) must hold in the
    # copy too: links and group modes are what the shared cache expects.
    settings = f'    type = "{",".join(config.cache_types)}"\n'
    if config.cache_shared:
        settings += "    shared = group\n"
    (dest / ".dvc" / "config.local").write_text(
        _without_cache_section(extra) + f"[cache]\n    dir = {cache_dir.resolve()}\n" + settings
    )


def _without_cache_section(text: str) -> str:
    kept: list[str] = []
    skipping = False
    for line in text.splitlines(keepends=True):
        if line.lstrip().startswith("["):
            skipping = line.strip() == "[cache]"
        if not skipping:
            kept.append(line)
    result = "".join(kept)
    return result if not result or result.endswith("\n") else result + "\n"


def _checkout_tracked_data(dest: Path) -> None:
    try:
        outs = workspace_outs(dest)
    except PrefectDvcError as exc:  # the run itself reports a broken pipeline
        logger.warning("DVC-tracked data not checked out in %s: %s", dest, exc)
        return
    stores, hasher = open_stores_for(dest, use_remote=False)
    try:
        _, missing = sync.checkout(dest, stores, outs, lambda p: hasher.hash_path(p)[0].md5)
    finally:
        hasher.close()
    if missing:
        logger.info("not in the cache, the run will produce them: %s", ", ".join(missing))
    _place_dvcfile_data(dest)


def _place_dvcfile_data(dest: Path) -> None:
    """``.dvc``-tracked data (``data.xml.dvc``): from the shared cache, else the remote."""
    try:
        place_tracked_data(dest)
    except PrefectDvcError as exc:  # the run itself reports the missing dep, naming it
        logger.warning(".dvc-tracked data not checked out in %s: %s", dest, exc)


def _copy(src: Path, target: Path) -> None:
    if os.path.lexists(target) and (target.is_dir() and not target.is_symlink()) != (
        src.is_dir() and not src.is_symlink()
    ):
        _remove(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir() and not src.is_symlink():
        shutil.copytree(src, target, symlinks=True, dirs_exist_ok=True)
    else:
        if os.path.lexists(target):
            target.unlink()
        shutil.copy2(src, target, follow_symlinks=False)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
