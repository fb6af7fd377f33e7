"""``import``: a file or folder of another Git repository (tracked by DVC or Git), tracked here.

Provides:
    ImportOptions: the options of ``import``.
    repo_dep(source, path): the ``deps`` entry DVC writes for it.
    fetch_repo_path(target, source, tracked, jobs): materialize, cache, link.
    import_repo(root, url, path, out, options): the command.

What DVC 3.67.1's ``dvc import`` writes (``dvc/dependency/repo.py::dumpd``)::

    md5: <stage md5>
    frozen: true
    deps:
    - path: data/f.txt
      repo:
        url: ../src          # as given
        rev: v1              # only when --rev was given
        rev_lock: <commit>
    outs:
    - md5: 0bee89b07a248e27c83fc3d5951213c1
      size: 4
      hash: md5
      path: f.txt
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect_dvc.dvcfile import DVC_SUFFIX
from prefect_dvc.errors import ImportSourceError, PrefectDvcError
from prefect_dvc.imports.repo_source import (
    RepoSource,
    Tracked,
    find_tracked,
    materialize,
    open_repo,
)
from prefect_dvc.imports.target import (
    Imported,
    ImportTarget,
    add_gitignore,
    ignore_pending,
    info_entry,
    resolve_target,
    scratch_dir,
    store_and_link,
    write_dvcfile,
)
from prefect_dvc.storage.hashinfo import HashInfo
from prefect_dvc.storage.hashing import Hasher


@dataclass(frozen=True)
class ImportOptions:
    """``import``'s options (DVC 3.67.1's, less the refused ones).

    Attributes:
        out: the destination (``-o``), default the source's base name.
        rev: the revision to read (``--rev``), default its ``HEAD``.
        no_exec / no_download / force / jobs: as for ``import-url``.
    """

    out: str | None = None
    rev: str | None = None
    no_exec: bool = False
    no_download: bool = False
    force: bool = False
    jobs: int | None = None


def repo_dep(url: str, path: str, rev: str | None, rev_lock: str | None) -> dict[str, Any]:
    """The ``deps`` entry of a repository import, in DVC's key order."""
    repo: dict[str, Any] = {"url": url}
    if rev:
        repo["rev"] = rev
    if rev_lock:
        repo["rev_lock"] = rev_lock
    return {"path": path, "repo": repo}


def fetch_repo_path(
    target: ImportTarget, source: RepoSource, tracked: Tracked, scratch: Path, jobs: int | None
) -> HashInfo:
    """Write the tracked data in ``scratch``, then cache it and link it in as the target's out."""
    staged = scratch / "data"
    materialize(source, tracked, staged)
    hasher = Hasher(None)
    return store_and_link(target, staged, hasher, jobs=jobs)


def import_repo(
    root: Path, url: str, path: str, options: ImportOptions, cwd: Path | None = None
) -> Imported:
    """Import ``path`` of the repository ``url`` to ``options.out``; returns what it wrote.

    Everything is checked (out, repository, revision, that something tracks
    ``path`` there) before anything is written.

    Raises:
        ImportSourceError: the repository, revision, path or data cannot be
            read (one line naming them); nothing is written.
        PipelineError / UnsafePathError: the out cannot be used.
    """
    here = Path(os.path.abspath(cwd or Path.cwd()))
    if options.no_exec and options.no_download:
        raise PrefectDvcError(
            "--no-exec and --no-download cannot be combined", hint="Use one of them"
        )
    if path.rstrip("/").endswith(DVC_SUFFIX) or posixpath.basename(path) == "dvc.yaml":
        # NOTE: DVC's Output._validate_output_path (DependencyIsStageFileError)
        raise ImportSourceError(
            f"cannot import '{path}' from '{url}': DVC file '{path}' cannot be a dependency",
            url=url,
            hint="Import the data it tracks instead",
        )
    target = resolve_target(root, path, options.out, force=options.force, cwd=here)
    pending = ignore_pending(target)
    with scratch_dir(root) as scratch:
        source = open_repo(url, options.rev, scratch, here)
        tracked = find_tracked(source, path)
        if options.no_exec:
            dep = repo_dep(url, path, options.rev, None)
            write_dvcfile(target, [dep], [info_entry(target.name, None)], with_md5=False)
            add_gitignore(target)
            return Imported(target, pending, f"{path} ({url})")
        info = None
        if not options.no_download:
            info = fetch_repo_path(target, source, tracked, scratch, options.jobs)
    dep = repo_dep(url, path, options.rev, source.rev_lock)
    write_dvcfile(target, [dep], [info_entry(target.name, info)], with_md5=True)
    add_gitignore(target)
    return Imported(target, pending, f"{path} ({url})")
