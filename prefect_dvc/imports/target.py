"""Where an import lands, and how it is written: out, ``.dvc`` file, cache, ``.gitignore``.

Provides:
    ImportTarget: the out and the ``.dvc`` file of one import (frozen).
    resolve_target(root, source, out, force=...): DVC's ``resolve_output`` +
        ``resolve_paths``, with our checks (inside the repository, not a DVC
        or Git file, no other stage's out).
    target_of(root, dvcfile): the target of an existing import's ``.dvc`` file.
    store_and_link(root, target, source): hash ``source``, put it in the
        cache and link it into the workspace (``cache.type``).
    write_dvcfile(target, deps, outs, with_md5=...): the file DVC writes,
        keeping the previous file's comments and layout.
    rewrite_dvcfile(target, old, dep, out_info): ``update``'s rewrite.
    scratch_dir(root): a private folder in ``.dvc/tmp``, removed afterwards.
    Imported, ignore_pending(target): what an import wrote.
    git_add_hint(imported, cwd): DVC's "To track the changes with git" lines.

DVC 3.67.1 (``dvc/utils/__init__.py``: ``resolve_output``,
``resolve_paths``): the out defaults to the source's base name in the
current folder, an existing folder given as out receives that base name,
the ``.dvc`` file is ``<out>.dvc`` beside the out and the entries' paths are
relative to that folder.
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import shutil
import subprocess
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from prefect_dvc.dvcfile import (
    DVC_SUFFIX,
    find_dvcfiles,
    format_dvcfile,
    load_dvcfile,
    out_entry,
)
from prefect_dvc.errors import PipelineError, PrefectDvcError, UnsafePathError
from prefect_dvc.gitignore import ensure_ignored, ignore_entry, is_ignored
from prefect_dvc.imports.stage_md5 import stage_md5
from prefect_dvc.project import open_stores_for
from prefect_dvc.repo import RepoPaths
from prefect_dvc.safety import check_workspace_path, in_repo_relative, out_refusal, symlink_escape
from prefect_dvc.storage.hashinfo import HashInfo
from prefect_dvc.storage.hashing import Hasher
from prefect_dvc.translators import load_pipeline
from prefect_dvc.yamlio import atomic_write


@dataclass(frozen=True)
class ImportTarget:
    """The out of one import and its ``.dvc`` file.

    Attributes:
        root: the repository root (absolute).
        out: the out's POSIX path relative to ``root``.
        dvcfile: ``out + ".dvc"``, relative to ``root``.
    """

    root: Path
    out: str
    dvcfile: str

    @property
    def wdir(self) -> str:
        """The folder the ``.dvc`` file's paths are relative to (``""`` for the root)."""
        return posixpath.dirname(self.dvcfile)

    @property
    def name(self) -> str:
        """The out as the ``.dvc`` file spells it (its base name)."""
        return posixpath.basename(self.out)

    @property
    def out_path(self) -> Path:
        return self.root / self.out


def resolve_target(
    root: Path, source: str, out: str | None, *, force: bool, cwd: Path | None = None
) -> ImportTarget:
    """The target of importing ``source`` to ``out`` (relative to ``cwd``), checked.

    Raises:
        UnsafePathError: the out is outside the repository, in ``.git``/``.dvc``,
            a DVC or Git file, or reached through a symlinked folder.
        PipelineError: the out exists and ``force`` is not set, or it is (or
            overlaps) an out of a stage or of another ``.dvc`` file.
    """
    here = Path(os.path.abspath(cwd or Path.cwd()))
    name = posixpath.basename(posixpath.normpath(urlsplit(source).path or source))
    if not out:
        chosen = here / name
    elif (here / out).is_dir() and not (here / out).is_symlink():
        chosen = here / out / name
    else:
        chosen = here / out
    shown = os.path.relpath(chosen, here) if out or name else str(chosen)
    rel = in_repo_relative(root, str(chosen))
    reason = out_refusal(rel) if rel is not None else "it is outside the repository"
    reason = reason or symlink_escape(root, rel or "")
    if reason is not None or rel is None:
        raise UnsafePathError(
            f"cannot import to '{shown}': {reason}",
            hint="Give an out path ('-o' or the last argument) inside the repository",
        )
    target = ImportTarget(root=root, out=rel, dvcfile=rel + DVC_SUFFIX)
    if os.path.lexists(chosen) and not force:
        raise PipelineError(
            f"cannot import to '{shown}': it already exists",
            hint="To override it, re-run with '--force'",
        )
    _check_not_taken(target)
    _check_not_in_git(target)
    return target


def _check_not_in_git(target: ImportTarget) -> None:
    """DVC's ``OutputAlreadyTrackedError``, raised before the file is touched.

    DVC 3.67.1 raises it only after ``--force`` has already overwritten the
    Git-tracked file with the import; the user's committed bytes stay here.
    """
    proc = subprocess.run(
        ["git", "ls-files", "-z", "--", target.out],
        cwd=target.root,
        capture_output=True,
        check=False,
    )
    if proc.returncode == 0 and proc.stdout.strip(b"\0"):
        raise PipelineError(
            f"cannot import to '{target.out}': it is already tracked by Git",
            hint=f"Stop tracking it first: git rm -r --cached '{target.out}' and commit",
        )


def target_of(root: Path, dvcfile: str, out: str) -> ImportTarget:
    """The target of an existing import (``out``: the repo path of its out)."""
    return ImportTarget(root=root, out=out, dvcfile=dvcfile)


def _overlap(a: str, b: str) -> bool:
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def _check_not_taken(target: ImportTarget) -> None:
    """DVC's ``OutputDuplicationError``/``OverlappingOutputPathsError`` for the new out."""
    for dvcfile in find_dvcfiles(target.root):
        if dvcfile == target.dvcfile:
            continue  # NOTE: re-importing replaces this very file, as DVC does
        try:
            outs = load_dvcfile(target.root, dvcfile).outs
        except (PrefectDvcError, OSError):
            continue  # NOTE: an unreadable .dvc file is reported by the commands that read it
        for tracked in outs:
            if tracked.repo_path and _overlap(tracked.repo_path, target.out):
                raise _taken(target, tracked.repo_path, dvcfile)
    if not (target.root / "dvc.yaml").is_file():
        return
    for stage, out in load_pipeline(target.root).iter_outs():
        if _overlap(out.repo_path, target.out):
            raise _taken(target, out.repo_path, f"dvc.yaml:{stage.name}")


def _taken(target: ImportTarget, other: str, owner: str) -> PipelineError:
    return PipelineError(
        f"cannot import to '{target.out}': it overlaps the output '{other}' of '{owner}'",
        hint="Choose another out path, or remove that output first",
    )


def store_and_link(
    target: ImportTarget, source: Path, hasher: Hasher, *, jobs: int | None = None
) -> HashInfo:
    """Hash the file or folder ``source``, cache it, and link it in as the target's out.

    ``hasher`` hashes ``source`` (one with the repository's ``.dvcignore``
    for a source inside it). The workspace path is replaced atomically; a
    missing parent folder is created. The out is never executable (DVC).

    Raises:
        FileNotFoundError: ``source`` vanished.
        StorageError: ``source`` changed while it was read, or holds
            something that is not a file.
        UnsafePathError: the out is no replaceable workspace path.
    """
    info, tree = hasher.hash_path(source)
    # NOTE: DVC downloads an import with a plain copy (no mode bits), so its
    # out never records isexec nor gets the execute bit, whatever the source has.
    info = dataclasses.replace(info, isexec=False)
    dest = check_workspace_path(target.root, target.out)
    stores, own = open_stores_for(target.root, use_remote=False, jobs=jobs)
    try:
        stores.save(source, info, tree)
        dest.parent.mkdir(parents=True, exist_ok=True)
        stores.checkout(info, dest)
    finally:
        own.close()
    ensure_ignored(target.root, target.out)
    return info


def info_entry(path: str, info: HashInfo | None) -> dict[str, Any]:
    """An ``outs``/``deps`` entry in ``Output.dumpd`` order (``hash, path`` alone without info)."""
    entry: dict[str, Any] = {}
    if info is not None:
        entry["md5"] = info.md5
        entry["size"] = info.size
        if info.nfiles is not None:
            entry["nfiles"] = info.nfiles
        if info.isexec:
            entry["isexec"] = True
    entry["hash"] = "md5"
    entry["path"] = path
    return entry


def write_dvcfile(
    target: ImportTarget,
    deps: Sequence[Mapping[str, Any]],
    outs: Sequence[Mapping[str, Any]],
    *,
    with_md5: bool,
) -> None:
    """Write the import's ``.dvc`` file: ``[md5,] frozen: true, deps, outs``.

    ``with_md5`` is False for ``--no-exec`` (DVC computes the stage md5 only
    when the stage is saved). An existing file keeps its comments and key
    layout (DVC's ``apply_diff``).
    """
    data: dict[str, Any] = {"frozen": True, "deps": list(deps), "outs": list(outs)}
    if with_md5:
        data = {"md5": stage_md5(data), **data}
    path = target.root / target.dvcfile
    previous = path.read_text(encoding="utf-8") if path.is_file() else None
    atomic_write(path, format_dvcfile(data, previous))


_DUMP_ORDER = ("desc", "md5", "wdir", "frozen", "deps", "outs", "always_changed", "meta")


def rewrite_dvcfile(
    target: ImportTarget,
    old: Mapping[str, Any],
    dep: Mapping[str, Any],
    out_info: HashInfo | None,
    *,
    md5_out: HashInfo | None = None,
) -> None:
    """Rewrite an existing import's ``.dvc`` file with a new dep and out hash (``update``).

    Everything else is kept: ``frozen`` as it was, the file's ``desc``/``meta``,
    the out's flags (``desc``, ``remote``, ``push``...), an ``fs_config``, the
    comments and key layout; the stage ``md5`` is recomputed, over
    ``md5_out`` in place of ``out_info`` when given: ``update --no-download``
    clears the out's hash only after DVC computed the md5 with the old one
    (``dvc/stage/imports.py::update_import``).
    """
    old_out = (old.get("outs") or [{}])[0]
    old_dep = (old.get("deps") or [{}])[0]
    new_dep = dict(dep)
    if "fs_config" in old_dep:
        new_dep["fs_config"] = old_dep["fs_config"]
    data = {k: v for k, v in old.items() if k != "md5"}
    data["deps"] = [new_dep, *list(old.get("deps") or [])[1:]]
    rest = list(old.get("outs") or [])[1:]
    data["outs"] = [_updated_out(target, md5_out or out_info, old_out), *rest]
    md5 = stage_md5(data)
    data["outs"] = [_updated_out(target, out_info, old_out), *rest]
    data["md5"] = md5
    ordered = {k: data[k] for k in _DUMP_ORDER if data.get(k) not in (None, False, "", [], {})}
    path = target.root / target.dvcfile
    previous = path.read_text(encoding="utf-8") if path.is_file() else None
    atomic_write(path, format_dvcfile(ordered, previous))


def _updated_out(
    target: ImportTarget, info: HashInfo | None, old_out: Mapping[str, Any]
) -> dict[str, Any]:
    if info is None:
        return out_entry(target.name, None, None, flags=old_out)
    return out_entry(
        target.name, info.md5, info.size, nfiles=info.nfiles, isexec=info.isexec, flags=old_out
    )


@dataclass(frozen=True)
class Imported:
    """What an import wrote: its target, whether the out's ``.gitignore`` got a line,
    and the source as DVC names it in "Importing '<source>' -> '<out>'"."""

    target: ImportTarget
    gitignore_changed: bool
    source: str = ""


def ignore_pending(target: ImportTarget) -> bool:
    """Whether ignoring the out will add a ``.gitignore`` line (asked before any write)."""
    entry, gitignore = ignore_entry(target.root, target.out)
    text = gitignore.read_text(encoding="utf-8") if gitignore.is_file() else ""
    return entry not in text.splitlines() and not is_ignored(target.root, target.out)


def add_gitignore(target: ImportTarget) -> None:
    """Ignore the out in Git (DVC ignores it even under ``--no-exec``)."""
    ensure_ignored(target.root, target.out)


def git_add_hint(imported: Imported, cwd: Path) -> str:
    """DVC's closing lines: the ``.dvc`` file (and the ``.gitignore`` if it changed) to stage.

    Paths are relative to ``cwd``, as DVC prints them; sorted.
    """
    target = imported.target
    files = [target.root / target.dvcfile]
    if imported.gitignore_changed:
        files.append(ignore_entry(target.root, target.out)[1])
    shown = sorted(Path(os.path.relpath(f, cwd)).as_posix() for f in files)
    return "\nTo track the changes with git, run:\n\n\tgit add " + " ".join(shown) + "\n"


@contextmanager
def scratch_dir(root: Path) -> Iterator[Path]:
    """A private folder in ``.dvc/tmp`` (same disk as the cache), removed afterwards."""
    folder = RepoPaths(root).own_tmp / f"import-{uuid.uuid4().hex}"
    folder.mkdir(parents=True)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
