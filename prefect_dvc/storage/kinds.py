"""Every DVC 3 remote kind, opened through its fsspec filesystem.

Provides:
    RemoteKind: one kind's pip extra, fsspec package, whether it can list,
        and its timeout option names.
    KINDS: the table, by URL scheme (``s3``, ``gs``, ``azure``, ``ssh``,
        ``webdav``/``webdavs``, ``http``/``https``, ``hdfs``, ``webhdfs``,
        ``oss``, ``gdrive``, plus local paths and ``memory``).
    open_remote_location(rc): the remote's ``Location`` (filesystem + root),
        its DVC options mapped to the fsspec arguments as DVC's plugins map
        them (``kind_builders.py``), with a connect/read timeout of a few
        seconds unless the kind's own timeout options say otherwise.

Refused in one line (``ConfigError``): ``version_aware`` and ``worktree``
(DVC's cloud-versioned layout keeps files by path, not by hash; prefect-dvc
only has the content-addressed one), ``remote://`` URLs, and option
combinations DVC's plugins refuse. A kind whose fsspec package is missing is
one ``RemoteError`` line naming the extra to install.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from fsspec import AbstractFileSystem

from prefect_dvc.config import RemoteConfig, is_secret_option
from prefect_dvc.errors import RemoteError
from prefect_dvc.storage import kind_fs
from prefect_dvc.storage.kind_builders import AZURE_ENV, BUILDERS, Options, flag, refuse
from prefect_dvc.storage.location import Location, open_location, storage_errors


@dataclass(frozen=True)
class RemoteKind:
    """One remote kind.

    ``extra`` is the ``prefect-dvc[extra]`` that installs ``module`` (``None``:
    installed with prefect-dvc itself). ``can_list`` is false for HTTP: no
    run-cache lookups, no ``gc -c``, existence checked object by object.
    ``timeouts`` are the kind's own timeout option names (DVC's schema).
    """

    extra: str | None
    module: str
    can_list: bool = True
    timeouts: tuple[str, ...] = ()


KINDS: Mapping[str, RemoteKind] = {
    "file": RemoteKind(None, "fsspec"),
    "memory": RemoteKind(None, "fsspec"),
    "s3": RemoteKind(None, "s3fs", timeouts=("connect_timeout", "read_timeout")),
    "gs": RemoteKind("gs", "gcsfs"),
    "azure": RemoteKind(
        "azure", "adlfs", timeouts=("timeout", "read_timeout", "connection_timeout")
    ),
    "ssh": RemoteKind("ssh", "sshfs", timeouts=("timeout",)),
    "webdav": RemoteKind("webdav", "webdav4", timeouts=("timeout",)),
    "webdavs": RemoteKind("webdav", "webdav4", timeouts=("timeout",)),
    "http": RemoteKind(None, "aiohttp", False, ("connect_timeout", "read_timeout")),
    "https": RemoteKind(None, "aiohttp", False, ("connect_timeout", "read_timeout")),
    "hdfs": RemoteKind("hdfs", "pyarrow"),
    "webhdfs": RemoteKind(None, "requests"),
    "oss": RemoteKind("oss", "ossfs"),
    # NOTE: refused in one line whatever is installed (see _gdrive).
    "gdrive": RemoteKind(None, "fsspec"),
}


def _check_common(rc: RemoteConfig, opts: Options) -> None:
    for key in ("version_aware", "worktree"):
        if flag(opts, key):
            raise refuse(
                rc,
                f"'{key} = true' (DVC's cloud-versioned layout) is not supported by prefect-dvc",
                f"Unset it with: prefect-dvc remote modify {rc.name} --unset {key}",
            )


def _require_package(rc: RemoteConfig, kind: RemoteKind) -> None:
    if importlib.util.find_spec(kind.module) is not None:
        return
    extra = f"prefect-dvc[{kind.extra}]" if kind.extra else "prefect-dvc"
    raise RemoteError(
        f"remote '{rc.name}' ({rc.safe_url}) needs the Python package '{kind.module}'",
        hint=f"Install it with: pip install '{extra}'",
    )


def kind_of(rc: RemoteConfig) -> RemoteKind:
    """The remote's kind.

    Raises:
        ConfigError: a scheme DVC 3 has no remote kind for (``remote://`` included).
    """
    kind = KINDS.get(rc.scheme)
    if kind is None:
        raise refuse(
            rc,
            f"'{rc.scheme}://' remotes are not supported by prefect-dvc",
            "Point the remote at the storage URL itself",
        )
    return kind


def open_remote_location(rc: RemoteConfig) -> Location:
    """The remote's filesystem and root; no request is made except by ssh (it logs in).

    Raises:
        ConfigError: ``version_aware``/``worktree`` set, an unknown kind, or
            options the kind's DVC plugin refuses.
        RemoteError: the kind's fsspec package is missing (naming the extra),
            or the filesystem cannot be built (an ssh login that fails).
    """
    opts = dict(rc.options)
    kind = kind_of(rc)
    _check_common(rc, opts)
    _require_package(rc, kind)
    if rc.scheme in ("file", "s3"):
        return open_location(rc.url, rc.storage_options())
    if rc.scheme == "memory":
        # NOTE: memory:// shows a file while it is written, as SFTP does.
        plain = open_location(rc.url)
        atomic = kind_fs.atomic_writes(type(plain.fs))(skip_instance_cache=True)
        return Location(fs=atomic, root=plain.root, url=rc.url)
    split = urlsplit(rc.url)
    secrets = tuple(v for k, v in opts.items() if is_secret_option(k) and len(v) >= 4)
    if split.password and len(split.password) >= 4:
        secrets += (split.password,)
    if rc.scheme == "azure":
        secrets += tuple(v for e in AZURE_ENV.values() if len(v := os.environ.get(e, "")) >= 4)
    if rc.scheme == "oss":
        # NOTE: dvc-oss reads the secret from the environment when the option is unset.
        secrets += tuple(v for v in [os.environ.get("OSS_ACCESS_KEY_SECRET", "")] if len(v) >= 4)
    location = Location(fs=AbstractFileSystem(), root="/", url=rc.url, secrets=secrets)
    with storage_errors(location, "connect"):
        fs, root = BUILDERS[rc.scheme](rc, split, opts)
    return Location(fs=fs, root=root, url=rc.url, secrets=secrets)
