"""The workspace a cluster stage may read, as one DVC ``.dir`` object on the remote.

Provides:
    snapshot_paths(root, pipeline): repo-relative files of the input set.
    take_snapshot(root, pipeline, hasher, remote_objects): hash them, upload
        what the remote lacks (one bulk existence check), put the manifest
        last; returns its :class:`HashInfo`.

The input set is a queue clone's (``experiments/inputs.py``): the files Git
tracks, as they are in the workspace, and the untracked files Git does not
ignore; plus whatever the workspace holds at the path of any stage out, dep
or params file, or of ``.dvc``-tracked data (outs of stages this plan does
not run, data the stages read, inputs Git ignores). Never ``.git``, DVC's
``.dvc/tmp`` and ``.dvc/cache``, nor ``.dvc/config.local`` (per-machine
credentials stay on this machine).

The manifest records each file's execute bit (``isexec``, which DVC's manifest
reader honours), so a ``./run.sh`` stays runnable on the worker. Symlinks
are stored as the file they point to.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from prefect_dvc.errors import GitError, PrefectDvcError
from prefect_dvc.external import is_external
from prefect_dvc.storage.hashinfo import DirEntry, HashInfo, Tree
from prefect_dvc.storage.hashing import Hasher
from prefect_dvc.storage.objects import ObjectStore
from prefect_dvc.storage.tracked_objects import data_outs
from prefect_dvc.translators.pipeline import Pipeline

_NEVER = (".git", ".dvc/tmp", ".dvc/cache", ".dvc/config.local")


def _excluded(rel: str) -> bool:
    return any(rel == p or rel.startswith(p + "/") for p in _NEVER)


def _git_files(root: Path) -> list[str]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=root,
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise GitError(
            f"cannot list the workspace's files for the cluster snapshot: {exc}",
            path=str(root),
            hint="Run from a Git repository ('git init' and commit the project)",
        ) from None
    return [p for p in out.decode("utf-8", "surrogateescape").split("\0") if p]


def _declared_paths(root: Path, pipeline: Pipeline) -> list[str]:
    """Outs and deps inside the repository: a dep Git ignores is still an input."""
    paths = [o.repo_path for st in pipeline.stages.values() for o in st.outs if not o.is_external]
    paths += [
        p
        for st in pipeline.stages.values()
        for p in (*st.dep_repo_paths, *(q.repo_path for q in st.params))
        if not is_external(p)
    ]
    # NOTE: a broken .dvc file is reported by the stage that reads it
    with contextlib.suppress(PrefectDvcError):
        paths += [o.repo_path for o in data_outs(root)]
    return paths


def _walk(root: Path, rel: str) -> Iterable[str]:
    full = root / rel
    if full.is_file():
        yield rel
    elif full.is_dir():
        for folder, _dirs, files in os.walk(full):
            for name in files:
                yield (Path(folder) / name).relative_to(root).as_posix()


def snapshot_paths(root: Path, pipeline: Pipeline) -> list[str]:
    """Repo-relative POSIX paths of the files a cluster stage may read, sorted.

    Raises:
        GitError: ``root`` is not a Git work tree.
    """
    found: set[str] = set()
    for rel in [*_git_files(root), *_declared_paths(root, pipeline)]:
        found.update(p for p in _walk(root, rel) if not _excluded(p))
    return sorted(found)


def take_snapshot(
    root: Path,
    pipeline: Pipeline,
    hasher: Hasher,
    remote: ObjectStore,
    jobs: int = 8,
    before_upload: Callable[[list[str]], None] | None = None,
) -> HashInfo:
    """Put the workspace's input set on ``remote`` as one ``.dir`` object; return its hash.

    Files are hashed through ``hasher`` (its state DB makes an unchanged
    workspace cost a ``stat`` per file), one listing asks the remote which
    objects it has, only the missing ones are uploaded (each verified while
    read, put whole), and the manifest goes last, so the remote never holds
    a snapshot manifest naming an absent object. ``before_upload`` gets
    every object id of the snapshot (manifest last) before the existence
    check and the first upload: the run's lease (``storage/leases.py``), so
    a ``gc -c`` elsewhere cannot take an object between its upload and the lease.

    Raises:
        GitError: ``root`` is not a Git work tree.
        RemoteError / StorageError: an upload failed (one line).
    """
    rels = snapshot_paths(root, pipeline)
    # NOTE: one batch: one state-DB lookup and one thread pool for all files.
    hashed = hasher.hash_many([root / rel for rel in rels])
    entries = [
        DirEntry(rel, info.md5, info.size, isexec=bool((root / rel).stat().st_mode & 0o111))
        for rel, (info, _tree) in zip(rels, hashed)
    ]
    tree = Tree.from_entries(entries)
    info = tree.hash_info()
    if before_upload is not None:
        before_upload([*dict.fromkeys(e.md5 for e in entries), info.md5])
    have = remote.existing({e.md5 for e in entries})
    todo = {e.md5: root / e.relpath for e in entries if e.md5 not in have}
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(lambda item: remote.add_file(item[1], item[0]), todo.items()))
    if not remote.existing([info.md5]):
        remote.add_bytes(tree.manifest_bytes(), info.md5)
    return info
