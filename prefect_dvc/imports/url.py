"""``import-url``: bring a file or folder from a local path or a URL under DVC control.

Provides:
    UrlSource: where an import-url reads from and how its dep is spelled.
    parse_source(root, url, wdir, cwd): classify and check the URL.
    current_entry / source_entry(root, source): the dep entry of the source now.
    fetch_into(target, source, jobs): download or copy, cache, link.
    ImportUrlOptions / import_url(root, url, out, options): the command.

What DVC 3.67.1 writes (``dvc/repo/imp_url.py``, ``Output.dumpd``)::

    md5: <stage md5>            # imports/stage_md5.py
    frozen: true
    deps:
    - md5: <md5>                # a local source; s3: etag, http(s): checksum
      size: 6
      hash: md5
      path: ../src/a.txt        # as given; inside the repository: relative to the file
    outs:
    - md5: <md5>
      size: 6
      hash: md5
      path: a.txt

A local source keeps the spelling the user typed (an absolute path stays
absolute); one inside the repository is written relative to the ``.dvc``
file's folder. ``file:///x`` is written as the absolute path ``/x``: DVC
3.67.1 cannot read ``file://`` deps (it takes them for the relative path
``file:/x``), and this way real DVC can ``status`` and ``update`` the file.
A URL is hashed from its metadata (``external.hash_url``) and then read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from prefect_dvc.dvcfile import DVC_SUFFIX
from prefect_dvc.errors import ImportSourceError, PrefectDvcError
from prefect_dvc.external import SUPPORTED_SCHEMES, hash_url, is_url, url_filesystem
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
from prefect_dvc.repo import RepoPaths
from prefect_dvc.safety import in_repo_relative, lexical_refusal
from prefect_dvc.storage.hashinfo import HashInfo
from prefect_dvc.storage.hashing import Hasher
from prefect_dvc.storage.state import StateDB

_VALUE_KEYS = ("etag", "checksum")


@dataclass(frozen=True)
class UrlSource:
    """The source of an import-url.

    Attributes:
        url: as the user gave it (named in messages).
        written: the dep ``path`` of the ``.dvc`` file.
        location: an absolute local path, or the URL to read.
        in_repo: a local source inside the repository (hashed with its ``.dvcignore``).
    """

    url: str
    written: str
    location: str
    in_repo: bool = False

    @property
    def is_local(self) -> bool:
        return not is_url(self.location)

    def shown(self, cwd: Path) -> str:
        """The source as DVC prints it (``str(Dependency)``): a URL as is, a path in
        the repository relative to ``cwd``, an outside one absolute."""
        if not self.is_local:
            return self.url
        if self.in_repo:
            return os.path.relpath(self.location, cwd)
        return self.written if os.path.isabs(self.written) else self.location


def parse_source(root: Path, url: str, wdir: Path, cwd: Path) -> UrlSource:
    """Classify ``url`` (typed in ``cwd``) for a ``.dvc`` file in the folder ``wdir``.

    Raises:
        ImportSourceError: an empty URL, or a scheme prefect-dvc cannot read
            (named, with the ones it can).
    """
    check_url(url)
    if is_url(url):
        if urlsplit(url).scheme.lower() == "file":
            return _local(root, url, unquote(urlsplit(url).path), wdir, cwd, absolute=True)
        return UrlSource(url=url, written=url, location=url)
    return _local(root, url, url, wdir, cwd, absolute=os.path.isabs(url))


def check_url(url: str) -> None:
    """Refuse an empty URL or one of a scheme prefect-dvc cannot read.

    Raises:
        ImportSourceError: naming the URL and the schemes that work.
    """
    if not url.strip():
        raise ImportSourceError("no URL given", url=url, hint="Name a file, folder or URL")
    if not is_url(url):
        _check_not_dvcfile(url, url)
        return
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme != "file" and scheme not in SUPPORTED_SCHEMES:
        raise ImportSourceError(
            f"failed to import '{url}': unsupported URL type '{scheme}://'",
            url=url,
            hint="Use a local path, file://, s3:// or http(s)://",
        )
    if scheme == "file":
        _check_not_dvcfile(url, unquote(parts.path))
    if scheme == "file" and parts.netloc not in ("", "localhost"):
        raise ImportSourceError(
            f"failed to import '{url}': a file:// URL must name a local path (file:///path)",
            url=url,
            hint="Write it as file:///absolute/path or as a plain path",
        )
    if scheme != "file" and (not parts.netloc or parts.path in ("", "/")):
        raise ImportSourceError(
            f"failed to import '{url}': the URL names no file",
            url=url,
            hint="Give the full URL of a file, e.g. s3://bucket/key",
        )


def _check_not_dvcfile(url: str, path: str) -> None:
    """DVC's ``DependencyIsStageFileError`` (``Output._validate_output_path``)."""
    if path.rstrip("/").endswith(DVC_SUFFIX) or os.path.basename(path.rstrip("/")) == "dvc.yaml":
        raise ImportSourceError(
            f"failed to import '{url}': DVC file '{path}' cannot be a dependency",
            url=url,
            hint="Import the data it tracks instead",
        )


def _local(root: Path, url: str, path: str, wdir: Path, cwd: Path, *, absolute: bool) -> UrlSource:
    location = os.path.normpath(os.path.join(cwd, path))
    rel = in_repo_relative(root, location)
    refusal = lexical_refusal(rel) if rel not in (None, ".") else None
    if rel == "." or (refusal is not None and "inside" in refusal):
        raise ImportSourceError(
            f"failed to import '{url}': the source is "
            + ("the repository itself" if rel == "." else refusal.removeprefix("it is ")),
            url=url,
            hint="Import data from outside '.git'/'.dvc', or track it with 'prefect-dvc add'",
        )
    if rel is not None:
        # NOTE: DVC writes a source inside the repository relative to the file (imp_url.py)
        written = Path(os.path.relpath(location, wdir)).as_posix()
        return UrlSource(url=url, written=written, location=location, in_repo=True)
    if absolute:
        return UrlSource(url=url, written=path, location=location)
    # NOTE: DVC keeps the typed relative path but resolves it against the
    # file's folder; writing it relative to that folder keeps both the same.
    same = os.path.abspath(cwd) == os.path.abspath(wdir)
    written = path if same else Path(os.path.relpath(location, wdir)).as_posix()
    return UrlSource(url=url, written=written, location=location)


def _missing(source: UrlSource) -> ImportSourceError:
    return ImportSourceError(
        f"failed to import '{source.url}': dependency '{source.written}' does not exist",
        url=source.url,
        hint="Check the path or URL, or download the data and track it with 'prefect-dvc add'",
    )


def _vanished(source: UrlSource, exc: FileNotFoundError) -> ImportSourceError:
    """The source itself is gone, or something inside it (a dangling symlink) is."""
    if not os.path.lexists(source.location):
        return _missing(source)
    inner = exc.filename or str(exc) or "a file"
    return ImportSourceError(
        f"failed to import '{source.url}': '{inner}' in it cannot be read (a dangling symlink?)",
        url=source.url,
        hint="Fix or remove that entry of the source, then import again",
    )


def _hasher(root: Path, source: UrlSource) -> Hasher:
    state = StateDB(RepoPaths(root).state_db)
    return Hasher(state, root=root if source.in_repo else None)


def current_entry(root: Path, source: UrlSource) -> dict[str, Any] | None:
    """The dep entry of ``source`` now (``Output.dumpd`` order); ``None`` when nothing is there.

    Raises:
        ImportSourceError: something inside a source folder cannot be read.
        RemoteError / PipelineError: a URL that cannot be read, or names a folder.
    """
    if not source.is_local:
        found = hash_url(source.location, source.written)
        return None if found is None else _dumpd_order(found)
    if not os.path.lexists(source.location):
        return None
    hasher = _hasher(root, source)
    try:
        info, _ = hasher.hash_path(Path(source.location))
    except FileNotFoundError as exc:
        if not os.path.lexists(source.location):
            return None
        raise _vanished(source, exc) from None
    finally:
        hasher.close()
    return info_entry(source.written, info)


def source_entry(root: Path, source: UrlSource) -> dict[str, Any]:
    """:func:`current_entry`, required.

    Raises:
        ImportSourceError: nothing exists at the source (URL named).
        RemoteError / PipelineError: as :func:`current_entry`.
    """
    entry = current_entry(root, source)
    if entry is None:
        raise _missing(source)
    return entry


def _dumpd_order(lock_entry: dict[str, Any]) -> dict[str, Any]:
    """``hash_url``'s lock order as a ``.dvc`` file has it: value, size, version_id, hash, path."""
    entry: dict[str, Any] = {}
    for key in (*_VALUE_KEYS, "size", "version_id"):
        if key in lock_entry:
            entry[key] = lock_entry[key]
    entry["hash"] = "md5"
    entry["path"] = lock_entry["path"]
    return entry


def fetch_into(target: ImportTarget, source: UrlSource, *, jobs: int | None = None) -> HashInfo:
    """Copy or download the source, put it in the cache and link it in as the target's out.

    Raises:
        ImportSourceError: the source vanished meanwhile.
        RemoteError: the download failed (the workspace is unchanged).
    """
    if source.is_local:
        hasher = _hasher(target.root, source)
        try:
            return store_and_link(target, Path(source.location), hasher, jobs=jobs)
        except FileNotFoundError as exc:
            raise _vanished(source, exc) from None
        finally:
            hasher.close()
    with scratch_dir(target.root) as folder:
        local = folder / target.name
        _download(source, local)
        return store_and_link(target, local, Hasher(None), jobs=jobs)


def _download(source: UrlSource, dest: Path) -> None:
    try:
        url_filesystem(source.location).get_file(source.location, str(dest))
    except FileNotFoundError:
        raise _missing(source) from None
    except Exception as exc:  # each fsspec backend raises its own error types
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ImportSourceError(
            f"failed to download '{source.url}': {detail}",
            url=source.url,
            hint="Check the URL, the network and the credentials (AWS_* for s3://)",
        ) from None


def _overlaps(a: str, b: str) -> bool:
    a, b = os.path.normpath(a), os.path.normpath(b)
    return a == b or a.startswith(b + os.sep) or b.startswith(a + os.sep)


@dataclass(frozen=True)
class ImportUrlOptions:
    """``import-url``'s options (DVC 3.67.1's, less the refused ones).

    Attributes:
        no_exec: write the ``.dvc`` file only, without hashes.
        no_download: record the source's hash, do not download.
        force: replace an existing out.
        jobs: parallel hashing/copying.
    """

    no_exec: bool = False
    no_download: bool = False
    force: bool = False
    jobs: int | None = None


def import_url(
    root: Path, url: str, out: str | None, options: ImportUrlOptions, cwd: Path | None = None
) -> Imported:
    """Import ``url`` to ``out`` (both as typed in ``cwd``); returns what it wrote.

    Checks everything before writing anything: the out (``resolve_target``),
    the URL, and (unless ``--no-exec``) that the source exists and can be read.

    Raises:
        ImportSourceError, RemoteError, PipelineError, UnsafePathError: one
            line naming the URL or the out; nothing is written.
    """
    here = Path(os.path.abspath(cwd or Path.cwd()))
    if options.no_exec and options.no_download:
        raise PrefectDvcError(
            "--no-exec and --no-download cannot be combined", hint="Use one of them"
        )
    check_url(url)
    target = resolve_target(root, url, out, force=options.force, cwd=here)
    source = parse_source(root, url, root / target.wdir, here)
    pending = ignore_pending(target)
    if source.is_local and _overlaps(source.location, str(target.out_path)):
        raise ImportSourceError(
            f"cannot import '{url}' to '{target.out}': the source and the out overlap",
            url=url,
            hint="Import to a path outside the source, or track it with 'prefect-dvc add'",
        )
    if options.no_exec:
        deps = [{"hash": "md5", "path": source.written}]
        write_dvcfile(target, deps, [info_entry(target.name, None)], with_md5=False)
        add_gitignore(target)
        return Imported(target, pending, source.shown(here))
    dep = source_entry(root, source)
    out_info = None if options.no_download else fetch_into(target, source, jobs=options.jobs)
    write_dvcfile(target, [dep], [info_entry(target.name, out_info)], with_md5=True)
    add_gitignore(target)
    return Imported(target, pending, source.shown(here))
