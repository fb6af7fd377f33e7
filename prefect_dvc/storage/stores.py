"""The local cache and the default remote, as one stage sees them.

Provides:
    Stores: the local object store and run-cache (``.dvc/cache`` or
        ``cache.dir``), the default remote's object store and run-cache when
        one is configured, and the link types of ``cache.type``; with the few
        operations a stage needs (save, look up a run, make objects local,
        check out).
    open_stores(paths, config, hasher): build them from ``.dvc/config``.

Why a facade: the stage executor must not know whether a run-cache hit came
from disk or from S3, nor how objects travel; it asks "is this run known?"
and "put these outs in place", and this module answers from local first,
then the remote. The remote is reached through a ``RemoteGate``
(``remote_gate.py``): probed on first use only, and when merely consulted
(``repro``/``exp run``) dropped with one warning line instead of failing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from prefect_dvc import tmpnames
from prefect_dvc.config import DvcConfig, RemoteConfig
from prefect_dvc.errors import ConfigError, CorruptObjectError, MissingObjectError, RemoteError
from prefect_dvc.ignore import ignored_paths
from prefect_dvc.repo import RepoPaths
from prefect_dvc.safety import cache_dir_refusal, check_workspace_path
from prefect_dvc.storage import links
from prefect_dvc.storage.hashinfo import HashInfo, Tree
from prefect_dvc.storage.hashing import Hasher
from prefect_dvc.storage.kinds import kind_of
from prefect_dvc.storage.objects import ObjectStore
from prefect_dvc.storage.remote_gate import Remote, RemoteGate
from prefect_dvc.storage.remotes import open_remote
from prefect_dvc.storage.runcache import RunCache, entry_matches

logger = logging.getLogger(__name__)


class Stores:
    """Everything a stage reads from and writes to, beside its workspace.

    ``workspace`` is the repository root; :meth:`checkout` refuses to
    replace any path of it that ``prefect_dvc/safety.py`` refuses.
    """

    def __init__(
        self,
        local: ObjectStore,
        local_runs: RunCache,
        *,
        remote: Remote | None = None,
        link_types: Sequence[str] = ("reflink", "copy"),
        jobs: int | None = None,
        workspace: Path | None = None,
        gate: RemoteGate | None = None,
    ) -> None:
        # NOTE: `workspace` is the repository whose paths checkout may replace
        # (prefect_dvc/safety.py) and whose .dvcignore'd files it keeps.
        self.workspace = workspace
        self.local = local
        self.local_runs = local_runs
        self.link_types = tuple(link_types)
        self.jobs = jobs
        # NOTE: a remote given directly is trusted as is; open_stores passes a
        # gate that probes on first use and, when only consulted, drops it.
        self._gate = gate or RemoteGate(remote, probed=True)

    @property
    def remote(self) -> Remote | None:
        """The remote, probed on first use (``RemoteGate``); ``None`` if none or dropped.

        Raises:
            RemoteError: a required remote is unusable (one line).
        """
        return self._gate.get()

    def save(self, path: Path, info: HashInfo, tree: Tree | None) -> None:
        """Put a hashed out (file or directory) into the local cache."""
        if tree is not None:
            self.local.add_tree(path, tree, jobs=self.jobs, legacy=info.legacy)
        else:
            self.local.add_file(path, info.oid)

    def save_run(self, entry: Mapping[str, Any]) -> None:
        self.local_runs.save(entry)

    def lookup_run(self, key_entry: Mapping[str, Any]) -> tuple[dict[str, Any], str] | None:
        """A run-cache entry for exactly this run whose outs can be restored.

        Local first, then the default remote. An entry whose deps or params
        differ from ``key_entry`` (DVC's key ignores fields named ``size``)
        or whose objects are gone is not a hit.
        """
        return next(self.candidate_runs(key_entry), None)

    def candidate_runs(self, key_entry: Mapping[str, Any]) -> Iterator[tuple[dict[str, Any], str]]:
        """Every entry :meth:`lookup_run` would accept, as ``(entry, source)``.

        Newest first in the local run-cache, then in the remote's, so the
        caller can fall back to an older entry when restoring one fails
        (an object found corrupt only when it is read).
        """
        yield from self._candidates(key_entry, "local", self.local_runs)
        remote = self.remote
        if remote is None:
            return
        try:
            yield from self._candidates(key_entry, f"remote '{remote.name}'", remote.runs)
        except RemoteError as exc:
            self._gate.fail(exc)

    def _candidates(
        self, key_entry: Mapping[str, Any], source: str, runs: RunCache
    ) -> Iterator[tuple[dict[str, Any], str]]:
        for entry in runs.lookup_all(key_entry):
            if not entry_matches(entry, key_entry):
                continue
            if self._restorable(_out_infos(entry)):
                yield entry, source
            else:
                logger.info("run-cache entry in %s: its outputs are not stored", source)

    def _restorable(self, infos: Sequence[HashInfo]) -> bool:
        try:
            return self._available(infos)
        except (MissingObjectError, CorruptObjectError):
            # NOTE: a .dir manifest that is gone or corrupt: try the next entry.
            return False

    def _available(self, infos: Sequence[HashInfo]) -> bool:
        md5s = [i.oid for i in infos]
        missing = set(md5s) - self.local.existing(md5s)
        if not missing:
            return all(self._tree_complete(self.local, i) for i in infos if i.is_dir)
        remote = self.remote
        if remote is None:
            return False
        try:
            return not (missing - remote.objects.existing(missing))
        except RemoteError as exc:
            self._gate.fail(exc)
            return False

    @staticmethod
    def _tree_complete(store: ObjectStore, info: HashInfo) -> bool:
        files = {e.oid for e in store.read_tree(info.oid).entries}
        return not (files - store.existing(files))

    def ensure_local(self, infos: Iterable[HashInfo]) -> None:
        """Download from the remote whatever of ``infos`` the local cache lacks."""
        wanted = [i.oid for i in infos]
        local = self.local.existing(wanted)
        incomplete = [
            i.oid
            for i in infos
            if i.is_dir and i.oid in local and not self._tree_complete(self.local, i)
        ]
        todo = [m for m in wanted if m not in local] + incomplete
        if not todo:
            return
        remote = self.remote
        if remote is None:
            raise MissingObjectError(
                f"{len(todo)} object(s) are not in the local cache ({todo[0]}...)",
                hint="Configure a remote and run 'prefect-dvc pull', or run the stage again",
            )
        try:
            result = remote.objects.transfer(todo, self.local, jobs=self.jobs)
        except RemoteError as exc:
            self._gate.fail(exc)
            raise MissingObjectError(exc.msg, hint="Run again when the remote answers") from None
        if result.missing:
            raise MissingObjectError(
                f"object {result.missing[0]} is in neither the local cache nor remote "
                f"'{remote.name}'",
                hint="Run the producing stage again with --no-run-cache",
            )

    def checkout(self, info: HashInfo, dest: Path) -> None:
        """Put the out ``info`` at ``dest`` from the local cache (verified).

        A directory's ``.dvcignore``d files under ``dest`` stay as they are, as in DVC.

        Raises:
            UnsafePathError: ``dest`` is no replaceable path of ``workspace``
                (``prefect_dvc/safety.py``); nothing is touched.
        """
        ws = self.workspace
        keep = ignored_paths(ws, dest) if ws is not None and info.is_dir else []
        self.local.checkout(info, dest, self.link_types, jobs=self.jobs, keep=keep, root=ws)

    def relink(self, info: HashInfo, dest: Path) -> None:
        """Link a just-saved out back from the cache when ``cache.type`` starts with a link.

        DVC 3.67.1 (``Output.commit(relink=True)``) checks a committed out
        out again with the cache's link types, so with ``hardlink`` or
        ``symlink`` first the workspace file becomes a read-only link to
        the object. With ``reflink``/``copy`` first the bytes are already
        what a checkout would put there, so nothing is done.
        """
        if self.link_types[0] in ("hardlink", "symlink"):
            self.checkout(info, dest)

    def unprotect(self, dest: Path) -> None:
        """Replace links to the cache at ``dest`` by private copies before a command writes there.

        DVC unprotects ``persist`` outs before their stage runs; without it
        a command appending to a hardlinked out would change the object.

        Raises:
            UnsafePathError: ``dest`` is no replaceable path of ``workspace``.
        """
        if self.workspace is not None:
            dest = check_workspace_path(self.workspace, dest)
        if os.path.lexists(dest):
            links.unprotect(dest)


def _out_infos(entry: Mapping[str, Any]) -> list[HashInfo]:
    infos = [HashInfo.from_lock(out) for out in entry.get("outs") or []]
    return [i for i in infos if i is not None]


def open_stores(
    paths: RepoPaths,
    config: DvcConfig,
    hasher: Hasher,
    *,
    remote_name: str | None = None,
    use_remote: bool = True,
    consult: bool = False,
    jobs: int | None = None,
) -> Stores:
    """The stores of ``.dvc/config``: ``cache.dir`` (default ``.dvc/cache``) and the remote.

    ``use_remote=False`` never opens or validates the remote (``status``,
    ``repro --dry``). By default the remote is required: one probe request
    (:func:`~prefect_dvc.storage.location.probe`) proves it usable before
    anything moves. With ``consult`` (``repro``/``exp run`` asking the remote
    run-cache) a remote that is unsupported, cannot list, or fails the probe
    (or failed it in the last minute, ``reachability``) is left out with one
    warning line, and a later failure drops it the same way.

    Raises:
        ConfigError: the cache dir is unusable; a required remote is unknown
            or of an unsupported kind.
        RemoteError: a required remote fails its probe (one line naming the problem).
    """
    cache_dir = config.cache_dir or paths.default_cache_dir
    refusal = cache_dir_refusal(paths.root, cache_dir)
    if refusal is not None:
        raise ConfigError(
            f"cache.dir '{cache_dir}' cannot hold the cache: {refusal}",
            path=".dvc/config",
            hint="Set cache.dir to a folder of its own, e.g. .dvc/cache",
        )
    # NOTE: what killed writers left behind (partial objects, private index
    # folders) goes before this command writes anything; never another host's.
    tmpnames.sweep(paths.own_tmp)
    tmpnames.sweep_after_crash(Path(cache_dir))

    def verify(path: Path) -> str:
        return hasher.hash_file(path).md5

    local = ObjectStore.from_url(
        str(cache_dir), verify=verify, state=hasher.state, shared=config.cache_shared
    )
    gate = None
    if use_remote and (remote_name or config.default_remote):
        if consult:
            gate = _consulted_gate(config, remote_name, paths.own_tmp)
        else:
            gate = _required_gate(config, remote_name)
    return Stores(
        local,
        RunCache(local.location),
        link_types=config.cache_types,
        jobs=jobs,
        workspace=paths.root,
        gate=gate,
    )


def _open_remote(rc: RemoteConfig) -> Remote:
    """The remote's stores (only an ssh remote connects here: it logs in when built).

    Raises:
        ConfigError: a kind or option prefect-dvc does not support (one line).
        RemoteError: the kind's fsspec package is missing (naming the extra).
    """
    return open_remote(rc)


def _required_gate(config: DvcConfig, name: str | None) -> RemoteGate:
    """A gate that opens the remote on first use and fails the command in one line."""
    rc = config.remote(name)
    kind_of(rc)  # NOTE: an unknown kind fails now, before any work starts.
    return RemoteGate(None, name=rc.name, url=rc.url, opener=lambda: _open_remote(rc))


def _consulted_gate(config: DvcConfig, name: str | None, tmp: Path) -> RemoteGate:
    """A gate that says once why the remote is unusable instead of failing the run."""
    try:
        rc = config.remote(name)
        kind = kind_of(rc)
    except ConfigError as exc:
        return RemoteGate(
            None, name=name or config.default_remote or "", problem=exc.msg, consult=tmp
        )
    if not kind.can_list:
        # NOTE: a run-cache lookup needs a folder listing (DVC's HTTP remote cannot list).
        logger.debug("remote '%s' cannot list: its run-cache is not consulted", rc.name)
        return RemoteGate(None, consult=tmp, probed=True)
    return RemoteGate(None, name=rc.name, url=rc.url, consult=tmp, opener=lambda: _open_remote(rc))
