"""Making ``.dvc``-tracked data present wherever a pipeline is about to run.

Provides:
    TrackedRestore: what :func:`place_tracked_data` did.
    place_tracked_data(root, ...): check out every ``.dvc`` out that is absent
        from the workspace, from the local cache, fetching what the cache
        lacks from the remote first.

Used before the first stage of ``repro --pull``, a queued experiment's
clone (``experiments/inputs.py``) and a deployment worker's fresh clone
(``flows/experiment.py``): DVC's executor checks a run's data out of the
cache (``dvc_checkout(force=True, allow_missing=True)`` in
``dvc/repo/experiments/executor/base.py``) and ``repro --pull`` fetches what
its stages need. Only absent paths are written, so a file the user put
there (a changed ``data.xml``, a ``--copy-paths`` copy) is never replaced.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from prefect_dvc.config import load_config
from prefect_dvc.errors import MissingObjectError, PrefectDvcError
from prefect_dvc.project import open_stores_for
from prefect_dvc.storage import sync
from prefect_dvc.storage.stores import Stores
from prefect_dvc.storage.tracked_objects import dvcfile_outs

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrackedRestore:
    """Repo paths checked out, and those neither the cache nor the remote could give."""

    restored: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()


def _incomplete(stores: Stores, outs: list[sync.UsedOut]) -> list[sync.UsedOut]:
    """Outs whose object (or a file of its ``.dir`` manifest) the local cache lacks."""
    have = stores.local.existing([o.info.oid for o in outs])
    result = []
    for out in outs:
        if out.info.oid not in have:
            result.append(out)
        elif out.info.is_dir:
            files = {e.oid for e in stores.local.read_tree(out.info.oid).entries}
            if files - stores.local.existing(files):
                result.append(out)
    return result


def _fetch(root: Path, outs: list[sync.UsedOut], remote: str | None, *, strict: bool) -> None:
    """Fetch ``outs`` from their remotes (an out's ``remote:`` first, else ``remote``/default).

    Raises:
        MissingObjectError: with ``strict``, an object no remote holds.
        RemoteError, ConfigError: with ``strict``, a remote that cannot be used.
    """
    config = load_config(root)
    for name, group in sync.by_remote(outs, remote, pushing=False).items():
        chosen = name or remote or config.default_remote
        if chosen is None:
            continue
        stores, hasher = open_stores_for(root, remote=chosen)
        try:
            stores.ensure_local([o.info for o in group])
        except MissingObjectError:
            shown = ", ".join(f"'{o.repo_path}'" for o in group)
            if strict:
                raise MissingObjectError(
                    f"{shown} (tracked by {group[0].stage}) not in the local cache nor on "
                    f"remote '{chosen}'",
                    path=group[0].stage,
                    hint="Push it from the machine that has it ('prefect-dvc push')",
                ) from None
            logger.info("not on remote '%s': %s", chosen, shown)
        finally:
            hasher.close()


def place_tracked_data(
    root: Path, *, remote: str | None = None, use_remote: bool = True, strict: bool = False
) -> TrackedRestore:
    """Check out every ``.dvc``-tracked out absent from ``root``'s workspace.

    Objects the local cache lacks are fetched first from the out's remote
    (``remote:``), else ``remote``, else ``core.remote`` (never with
    ``use_remote=False``). Without ``strict`` what cannot be had is left out
    and reported in ``missing`` (the run then fails on the missing dep, naming it).

    Raises:
        YamlSyntaxError, SchemaError, UnsafePathError: a ``.dvc`` file that cannot be used.
        MissingObjectError, RemoteError, ConfigError: with ``strict`` only, data
            that neither the cache nor the remote holds, or an unusable remote.
    """
    outs = [o for o in dvcfile_outs(root) if not os.path.lexists(root / o.repo_path)]
    if not outs:
        return TrackedRestore()
    todo = _incomplete_in(root, outs) if use_remote else []
    if todo:
        try:
            _fetch(root, todo, remote, strict=strict)
        except PrefectDvcError as exc:
            if strict:
                raise
            logger.warning("tracked data not fetched: %s", exc)
    stores, hasher = open_stores_for(root, use_remote=False)
    try:
        lacking = {o.repo_path for o in _incomplete(stores, outs)}
        ready = [o for o in outs if o.repo_path not in lacking]
        restored, _ = sync.checkout(root, stores, ready, lambda p: hasher.hash_path(p)[0].md5)
    finally:
        hasher.close()
    if lacking:
        if strict:
            raise MissingObjectError(
                f"{len(lacking)} .dvc-tracked out(s) are in neither the local cache nor the "
                f"remote: {', '.join(sorted(lacking))}",
                hint="Push them from the machine that has them ('prefect-dvc push')",
            )
        logger.warning("not in the cache nor on the remote: %s", ", ".join(sorted(lacking)))
    return TrackedRestore(tuple(restored), tuple(sorted(lacking)))


def _incomplete_in(root: Path, outs: list[sync.UsedOut]) -> list[sync.UsedOut]:
    stores, hasher = open_stores_for(root, use_remote=False)
    try:
        return _incomplete(stores, outs)
    finally:
        hasher.close()
