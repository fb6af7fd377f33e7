"""The other repository of ``import``: a Git revision, what tracks a path there, its data.

Provides:
    RepoSource: one repository at one resolved commit (``rev_lock``).
    open_repo(url, rev, scratch): read it in place (a local repository) or clone it.
    Tracked: what tracks a path at that commit (a DVC out, a file inside a
        DVC-tracked folder, or Git itself).
    find_tracked(source, path): look it up in the ``.dvc`` files and
        ``dvc.lock`` files of the commit, then in Git's tree.
    materialize(source, tracked, dest): write the data at ``dest`` (a new
        path), from the repository's cache, else its default remote, else Git.

DVC 3.67.1 (``dvc/repo/imp.py``, ``dvc/dependency/repo.py``): the
repository is read at ``rev`` (default: its ``HEAD``), whose commit is
recorded as ``rev_lock``; data tracked by DVC comes from that repository's
cache when it is local, else from its default remote.
"""

from __future__ import annotations

import io
import os
import posixpath
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from prefect_dvc.config import load_config
from prefect_dvc.dvcfile import is_dvcfile_name
from prefect_dvc.errors import ImportSourceError, MissingObjectError, PrefectDvcError
from prefect_dvc.storage.hashinfo import HashInfo
from prefect_dvc.storage.objects import ObjectStore
from prefect_dvc.yamlio import parse_yaml


@dataclass(frozen=True)
class RepoSource:
    """A repository read at one commit.

    Attributes:
        url: as the user gave it (recorded in ``repo: url``).
        rev: the revision asked for, ``None`` for its ``HEAD``.
        rev_lock: the commit ``rev`` resolved to (40 hex digits).
        work_tree: a checkout of it on this machine: the repository itself
            when local, else a clone in the scratch folder.
    """

    url: str
    rev: str | None
    rev_lock: str
    work_tree: Path

    def git(self, *args: str) -> bytes:
        """``git -C work_tree <args>``'s stdout; ``ImportSourceError`` naming the URL on failure."""
        return _git(self.work_tree, self.url, *args)


def _git(cwd: Path, url: str, *args: str) -> bytes:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    if proc.returncode != 0:
        said = proc.stderr.decode(errors="replace").strip().splitlines()
        raise ImportSourceError(
            f"cannot read the repository '{url}': git {args[0]}: {said[-1] if said else 'failed'}",
            url=url,
            hint="Check the repository URL and the revision",
        )
    return proc.stdout


def _local_dir(url: str, cwd: Path) -> Path | None:
    parts = urlsplit(url)
    if len(parts.scheme) > 1:
        if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
            return None
        return Path(unquote(parts.path))
    return Path(os.path.abspath(cwd / url))


def open_repo(url: str, rev: str | None, scratch: Path, cwd: Path) -> RepoSource:
    """The repository at ``url`` (typed in ``cwd``) resolved at ``rev``.

    A local path or ``file://`` URL is read in place (its cache is used);
    any other URL is cloned into ``scratch``.

    Raises:
        ImportSourceError: not a Git repository, cannot be cloned, or ``rev``
            names no commit there (URL and revision named).
    """
    local = _local_dir(url, cwd)
    if local is not None:
        if not local.is_dir():
            raise ImportSourceError(
                f"cannot read the repository '{url}': no such folder",
                url=url,
                hint="Give the path or URL of a Git repository",
            )
        work_tree = local
        top = _git(local, url, "rev-parse", "--show-toplevel").decode().strip()
        if Path(top).resolve() != local.resolve():
            raise ImportSourceError(
                f"cannot read the repository '{url}': it is not the top of a Git repository",
                url=url,
                hint=f"Give '{top}' and the path inside it",
            )
    else:
        work_tree = scratch / "clone"
        _git(scratch, url, "clone", "-q", "--no-checkout", "--", url, str(work_tree))
    wanted = rev or "HEAD"
    if wanted.startswith("-"):
        raise ImportSourceError(
            f"cannot read the repository '{url}': '{wanted}' is not a revision",
            url=url,
            hint="Give a branch, tag or commit with '--rev'",
        )
    proc = subprocess.run(
        ["git", "rev-parse", "--verify", "-q", f"{wanted}^{{commit}}"],
        cwd=work_tree,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0 or not proc.stdout.strip():
        raise ImportSourceError(
            f"cannot read the repository '{url}': unknown revision '{wanted}'",
            url=url,
            hint="Give a branch, tag or commit of that repository with '--rev'",
        )
    sha = proc.stdout.strip()
    if local is None:
        # NOTE: only its config is needed from the work tree (a Git-only repository has none)
        subprocess.run(
            ["git", "checkout", "-q", sha, "--", ".dvc"], cwd=work_tree, capture_output=True
        )
    return RepoSource(url=url, rev=rev, rev_lock=sha, work_tree=work_tree)


@dataclass(frozen=True)
class Tracked:
    """How ``path`` is tracked at the source commit.

    Attributes:
        path: the normalised POSIX path in the source repository.
        info: the DVC out's hash (``None`` when Git tracks it).
        sub: the part of ``path`` inside that DVC-tracked folder (``""``: the out itself).
        git_kind: ``"blob"`` or ``"tree"`` for a path Git tracks, else ``""``.
    """

    path: str
    info: HashInfo | None = None
    sub: str = ""
    git_kind: str = ""


def _clean(source: RepoSource, path: str) -> str:
    norm = posixpath.normpath(path.replace(os.sep, "/")) if path else ""
    if not path or posixpath.isabs(norm) or norm in (".", "..") or norm.startswith("../"):
        raise ImportSourceError(
            f"cannot import '{path}' from '{source.url}': give a path inside that repository",
            url=source.url,
        )
    return norm


def _files(source: RepoSource) -> list[str]:
    listing = source.git("ls-tree", "-r", "-z", "--name-only", source.rev_lock)
    return [p.decode() for p in listing.split(b"\0") if p]


def _read(source: RepoSource, repo_path: str) -> Any:
    text = source.git("show", f"{source.rev_lock}:{repo_path}").decode("utf-8", "replace")
    try:
        return parse_yaml(text, repo_path)
    except PrefectDvcError:
        return None  # NOTE: DVC skips what it cannot parse only when it is not asked for it


def _outs(source: RepoSource) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every DVC out at the commit: (repo path, its entry), from ``.dvc`` files and ``dvc.lock``."""
    for name in _files(source):
        folder = posixpath.dirname(name)
        if is_dvcfile_name(name):
            data = _read(source, name)
            if not isinstance(data, dict):
                continue
            wdir = posixpath.join(folder, str(data.get("wdir") or "."))
            yield from _entries(wdir, data.get("outs"))
        elif posixpath.basename(name) == "dvc.lock":
            data = _read(source, name)
            stages = data.get("stages") if isinstance(data, dict) else None
            wdirs = _stage_wdirs(source, posixpath.join(folder, "dvc.yaml"))
            for stage_name, stage in (stages or {}).items():
                if isinstance(stage, dict):
                    wdir = wdirs.get(str(stage_name).split("@")[0], ".")
                    yield from _entries(posixpath.join(folder, wdir), stage.get("outs"))


def _stage_wdirs(source: RepoSource, dvcyaml: str) -> dict[str, str]:
    """Each stage's ``wdir`` in that ``dvc.yaml``: ``dvc.lock`` paths are relative to it."""
    try:
        data = _read(source, dvcyaml)
    except ImportSourceError:
        return {}
    stages = data.get("stages") if isinstance(data, dict) else None
    wdirs = {}
    for name, stage in (stages or {}).items():
        wdir = stage.get("wdir") if isinstance(stage, dict) else None
        if isinstance(stage, dict) and isinstance(stage.get("do"), dict):
            wdir = stage["do"].get("wdir")  # NOTE: foreach/matrix stages keep it under `do`
        if isinstance(wdir, str) and "${" not in wdir:
            wdirs[str(name)] = wdir
    return wdirs


def _entries(wdir: str, items: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and isinstance(item.get("path"), str):
            yield posixpath.normpath(posixpath.join(wdir, item["path"])), item


def find_tracked(source: RepoSource, path: str) -> Tracked:
    """What tracks ``path`` at the source commit.

    Raises:
        ImportSourceError: nothing tracks it; it is a DVC 2 (legacy hash)
            out; or it is a folder holding DVC-tracked data beside Git files.
    """
    norm = _clean(source, path)
    inner: list[str] = []
    for out_path, entry in _outs(source):
        if out_path == norm or norm.startswith(out_path + "/"):
            if entry.get("cache") is False or _git_kind(source, out_path):
                # NOTE: a `cache: false` out (dvc.lock does not say so, dvc.yaml
                # does) is committed to Git: read it from there, as DVC does
                break
            info = HashInfo.from_lock(entry)
            if info is None or info.legacy:
                raise _unsupported(source, path, "its DVC entry has no DVC 3 md5 (a DVC 2 file)")
            sub = "" if out_path == norm else norm[len(out_path) + 1 :]
            return Tracked(norm, info, sub=sub)
        if out_path.startswith(norm + "/"):
            inner.append(out_path)
    if inner:
        raise _unsupported(source, path, f"it is a folder holding DVC-tracked data ('{inner[0]}')")
    kind = _git_kind(source, norm)
    if not kind:
        raise ImportSourceError(
            f"cannot import '{path}' from '{source.url}': no such file or folder at "
            f"'{source.rev or 'HEAD'}' ({source.rev_lock[:7]}), neither DVC nor Git tracks it",
            url=source.url,
            hint="Check the path, and the revision with '--rev'",
        )
    return Tracked(norm, git_kind=kind)


def _unsupported(source: RepoSource, path: str, why: str) -> ImportSourceError:
    return ImportSourceError(
        f"cannot import '{path}' from '{source.url}': {why}",
        url=source.url,
        hint="Import the DVC-tracked paths one by one",
    )


def _git_kind(source: RepoSource, path: str) -> str:
    proc = subprocess.run(
        ["git", "cat-file", "-t", f"{source.rev_lock}:{path}"],
        cwd=source.work_tree,
        capture_output=True,
        text=True,
        check=False,
    )
    kind = proc.stdout.strip()
    return kind if proc.returncode == 0 and kind in ("blob", "tree") else ""


def _stores(source: RepoSource) -> list[ObjectStore]:
    """The source's own cache first, then its default remote (if it has one)."""
    config = load_config(source.work_tree)
    stores = []
    if config.cache_dir is not None and config.cache_dir.is_dir():
        stores.append(ObjectStore.from_url(str(config.cache_dir)))
    if config.default_remote:
        remote = config.remote()
        stores.append(ObjectStore.from_url(remote.url, remote.storage_options()))
    return stores


def materialize(source: RepoSource, tracked: Tracked, dest: Path) -> None:
    """Write the tracked file or folder at the new path ``dest`` (verified against its md5).

    Raises:
        ImportSourceError: an object is in neither the source's cache nor
            its default remote (hint: push it from there).
    """
    if tracked.info is None:
        _from_git(source, tracked, dest)
        return
    stores = _stores(source)
    files = _dvc_files(source, tracked, stores)
    for md5, rel in files:
        target = dest / _safe_relpath(source, tracked, rel) if rel else dest
        target.parent.mkdir(parents=True, exist_ok=True)
        _fetch_object(source, tracked, stores, md5, target)


def _dvc_files(
    source: RepoSource, tracked: Tracked, stores: list[ObjectStore]
) -> list[tuple[str, str]]:
    """(md5, relative path in ``dest``) of every file to write; ``""`` for a single file."""
    info = tracked.info
    assert info is not None
    if not info.is_dir:
        return [(info.md5, "")]
    tree = None
    for store in stores:
        try:
            tree = store.read_tree(info.md5)
            break
        except (MissingObjectError, FileNotFoundError):
            continue
    if tree is None:
        raise _missing_object(source, tracked, info.md5)
    if not tracked.sub:
        return [(e.md5, e.relpath) for e in tree.entries]
    for entry in tree.entries:
        if entry.relpath == tracked.sub:
            return [(entry.md5, "")]
    prefix = tracked.sub + "/"
    inside = [
        (e.md5, e.relpath[len(prefix) :]) for e in tree.entries if e.relpath.startswith(prefix)
    ]
    if not inside:
        raise ImportSourceError(
            f"cannot import '{tracked.path}' from '{source.url}': no such file or folder "
            f"in the DVC-tracked folder at '{source.rev or 'HEAD'}'",
            url=source.url,
            hint="Check the path, and the revision with '--rev'",
        )
    return inside


def _safe_relpath(source: RepoSource, tracked: Tracked, rel: str) -> str:
    """A manifest's ``relpath``, refused when it would land outside the folder being built.

    The manifest comes from another repository's cache or remote: it is not trusted.
    """
    norm = posixpath.normpath(rel)
    if posixpath.isabs(rel) or norm in (".", "..") or norm.startswith("../") or "\\" in rel:
        raise ImportSourceError(
            f"cannot import '{tracked.path}' from '{source.url}': its folder manifest names "
            f"the unsafe path '{rel}'",
            url=source.url,
            hint="Fix the data in that repository ('dvc add' the folder again)",
        )
    return norm


def _fetch_object(
    source: RepoSource, tracked: Tracked, stores: list[ObjectStore], md5: str, target: Path
) -> None:
    for store in stores:
        try:
            store.materialize(md5, target, ("copy",))
            return
        except (MissingObjectError, FileNotFoundError):
            target.unlink(missing_ok=True)
    raise _missing_object(source, tracked, md5)


def _missing_object(source: RepoSource, tracked: Tracked, md5: str) -> ImportSourceError:
    return ImportSourceError(
        f"cannot import '{tracked.path}' from '{source.url}': its data ({md5}) is in neither "
        "that repository's cache nor its default remote",
        url=source.url,
        hint="Push it from that repository ('dvc push'), or set its default remote",
    )


def _from_git(source: RepoSource, tracked: Tracked, dest: Path) -> None:
    if tracked.git_kind == "blob":
        dest.write_bytes(source.git("cat-file", "blob", f"{source.rev_lock}:{tracked.path}"))
        return
    archive = source.git("archive", "--format=tar", source.rev_lock, "--", tracked.path)
    unpacked = dest.parent / (dest.name + ".tar")
    try:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(unpacked, filter="data")
    except (tarfile.TarError, OSError) as exc:
        # NOTE: the "data" filter refuses links leaving the folder, absolute paths, devices
        raise ImportSourceError(
            f"cannot import '{tracked.path}' from '{source.url}': {exc}",
            url=source.url,
            hint="Import the plain files inside it one by one",
        ) from None
    os.replace(unpacked / tracked.path, dest)
