"""DVC 3's external dependencies and outputs: URLs and paths outside the repository.

Provides:
    SUPPORTED_SCHEMES: the URL schemes a dep may use (``http``, ``https``, ``s3``).
    is_url(path): whether a path as written in ``dvc.yaml`` is a URL.
    is_external(path): whether a path relative to the repository root (or a
        URL, or an absolute path) lies outside the repository.
    external_path(wdir, path): the spelling a dep or out gets in place of a
        repo path when it is external, else ``None``.
    check_external(path, *, is_out, cache): refuse what DVC 3 refuses.
    hash_url(url, written): the ``dvc.lock`` entry of a URL dep, or ``None``
        when nothing is there.

What DVC 3.67.1 does, and we follow (``dvc/output.py``: ``is_in_repo``,
``_compute_hash_info_from_meta``, ``save``; ``dvc_data/hashfile/meta.py``
``Meta.from_info``; ``dvc/stage/serialize.py`` ``to_single_stage_lockfile``):

- a path that leaves the repository (``../x``) or is absolute is an
  external dependency: kept as written in ``dvc.lock``, hashed with md5 of
  its bytes (a directory as a ``.dir`` manifest), no ``.dvcignore`` applied;
- a URL dep is hashed from what its filesystem says about it, without
  reading it: ``s3://`` records ``etag`` (the ETag without quotes), plus
  ``version_id`` on versioned buckets; ``http(s)://`` records ``checksum``,
  the ETag or Content-MD5 header when the server sends one, else
  fsspec's ``checksum()`` (a number made from the whole HEAD info);
  both with ``size`` and ``hash: md5`` as DVC 3 writes them;
- a *cached* external out is refused ("Saving cached external output ... is
  not supported since DVC 3.0"); a ``cache: false`` one is hashed for status
  and the lock file and never deleted;
- stages with a URL dep or an external out get no run-cache entry
  (``dvc/stage/cache.py`` ``_can_hash``).
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from prefect_dvc.errors import PipelineError, RemoteError

# NOTE: DVC 3.67.1 reads `file:///x` as the relative path `file:/x` and fails
# on it; we refuse it at load time and point to the plain absolute path.
SUPPORTED_SCHEMES = ("http", "https", "s3")
_UPGRADE_LINK = "<https://dvc.org/doc/user-guide/upgrade>"
# NOTE: botocore's defaults (60 s connect timeout, legacy retries) would make an
# unreachable dependency hang status for minutes; fail within seconds instead.
_S3_OPTIONS: Mapping[str, Any] = {
    "config_kwargs": {"connect_timeout": 5, "retries": {"mode": "standard", "max_attempts": 2}}
}


def is_url(path: str) -> bool:
    """``True`` for ``scheme://...`` (a one-letter scheme is a Windows drive, not a URL)."""
    return len(urlsplit(path).scheme) > 1 and "://" in path


def is_external(path: str) -> bool:
    """Whether ``path`` (relative to the repository root, or absolute, or a URL) is outside it."""
    return is_url(path) or posixpath.isabs(path) or path == ".." or path.startswith("../")


def external_path(wdir: str, path: str) -> str | None:
    """The location of an external ``path`` (written relative to ``wdir``), else ``None``.

    A URL and an absolute path are returned as written (normalised); a
    relative path leaving the repository is returned relative to the root
    (``../x``), so that ``root / result`` names it either way.
    """
    if is_url(path):
        return path
    if posixpath.isabs(path):
        return posixpath.normpath(path)
    joined = posixpath.normpath(posixpath.join(wdir, path))
    return joined if is_external(joined) else None


def check_external(
    path: str, *, is_out: bool, cache: bool = True, written: str | None = None
) -> None:
    """Refuse an external dep or out that DVC 3 (or prefect-dvc) cannot track.

    ``written`` is the path as ``dvc.yaml`` spells it (``sub/../..``), named
    in the message so the user finds it; ``path`` is where it lands.

    Raises:
        PipelineError: an unsupported URL scheme; a cached external out (DVC
            3's message); a URL out (DVC 3 only tracks those as imports).
    """
    scheme = urlsplit(path).scheme if is_url(path) else ""
    if scheme and scheme not in SUPPORTED_SCHEMES:
        raise PipelineError(
            f"'{path}' uses '{scheme}://', which prefect-dvc does not support",
            hint="Use an http(s):// or s3:// URL, or a local path (absolute or relative)",
        )
    if is_out and cache:
        shown = path if written in (None, path) else f"'{written}' ({path})"
        raise PipelineError(
            f"Saving cached external output {shown} is not supported since DVC 3.0. "
            f"See {_UPGRADE_LINK} for more info",
            hint="Write the output inside the repository, or mark it 'cache: false'",
        )
    if is_out and scheme:
        raise PipelineError(
            f"output '{path}' is a URL; prefect-dvc tracks URL outputs only as deps",
            hint="Write the output to a local path and upload it from the command",
        )


def hash_url(url: str, written: str) -> dict[str, Any] | None:
    """The ``dvc.lock`` entry of the URL dep ``url`` (``written`` is its ``path``).

    Returns ``None`` when nothing exists at ``url``. Keys in DVC's order:
    ``path, hash, etag|checksum, size[, version_id]``.

    Raises:
        PipelineError: ``url`` names a directory (not supported for URLs yet).
        RemoteError: the server cannot be reached or refuses the request.
    """
    scheme = urlsplit(url).scheme
    try:
        fs = url_filesystem(url)
        info = fs.info(url)
        if info.get("type") == "directory":
            raise IsADirectoryError(url)
        if scheme == "s3":
            value_key, value = "etag", str(info["ETag"]).strip('"')
        else:
            value_key = "checksum"
            value = info.get("ETag") or info.get("Content-MD5") or str(fs.checksum(url))
    except FileNotFoundError as exc:
        if _truly_missing(exc, scheme):
            return None
        raise _unreadable(url, exc.__cause__ or exc) from None
    except IsADirectoryError:
        raise PipelineError(
            f"dependency '{url}' is a directory; prefect-dvc hashes only single files at URLs",
            hint="Depend on the files in it, or on a local copy",
        ) from None
    except Exception as exc:  # each fsspec backend raises its own error types
        raise _unreadable(url, exc) from None
    entry: dict[str, Any] = {"path": written, "hash": "md5", value_key: value}
    if info.get("size") is not None:
        entry["size"] = int(info["size"])
    version = info.get("VersionId") if scheme == "s3" else None
    if version and version != "null":
        entry["version_id"] = version
    return entry


def _truly_missing(exc: FileNotFoundError, scheme: str) -> bool:
    """fsspec's HTTP filesystem reports every failure as FileNotFoundError; 404/410 are missing."""
    if not scheme.startswith("http") or exc.__cause__ is None:
        return True
    return getattr(exc.__cause__, "status", None) in (404, 410)


def _unreadable(url: str, exc: BaseException) -> RemoteError:
    detail = str(exc).splitlines()[0] if str(exc) else ""
    return RemoteError(
        f"cannot read dependency '{url}': {exc.__class__.__name__}"
        + (f": {detail}" if detail else ""),
        hint="Check the URL, the network and the credentials (AWS_* for s3://)",
    )


def dep_value(entry: Mapping[str, Any]) -> tuple[str, Any] | None:
    """The field that identifies a dep's content in a lock entry: md5, etag or checksum."""
    for key in ("md5", "etag", "checksum"):
        if entry.get(key) is not None:
            return key, entry[key]
    return None


def url_filesystem(url: str) -> Any:
    """The fsspec filesystem reading ``url`` (``s3://``, ``http(s)://``), with our S3 timeouts.

    A fresh instance each call (never fsspec's instance cache), so a
    credential or endpoint change between calls is seen.
    """
    # NOTE: imported here: fsspec (and asyncio under it) costs ~40 ms that a
    # pipeline without URL deps, the common case, never needs.
    import fsspec

    scheme = urlsplit(url).scheme
    options = dict(_S3_OPTIONS) if scheme == "s3" else {}
    return fsspec.filesystem(scheme, skip_instance_cache=True, **options)
