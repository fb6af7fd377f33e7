"""Each remote kind's DVC options mapped to its fsspec filesystem's arguments.

Provides:
    BUILDERS: by URL scheme, ``build(rc, split_url, options) -> (fs, root)``,
        mapping as DVC's plugins do (dvc-gs, dvc-azure, dvc-ssh, dvc-webdav,
        dvc-http ``_prepare_credentials``), with a few seconds' connect/read
        timeouts unless the kind's own timeout options say otherwise.
    AZURE_ENV: the ``AZURE_STORAGE_*`` variables dvc-azure reads through the az CLI config.
    refuse(rc, what, hint): the one-line ``ConfigError`` about a remote.
    flag(options, key): a DVC boolean option.

Used by ``kinds.open_remote_location``; nothing here makes a request except
building an ssh filesystem (sshfs logs in) and ``bearer_token_command``.
"""

from __future__ import annotations

import base64
import functools
import getpass
import logging
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import SplitResult, urlunsplit

from fsspec import AbstractFileSystem

from prefect_dvc.config import DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT, RemoteConfig
from prefect_dvc.errors import ConfigError
from prefect_dvc.storage import kind_fs

Options = Mapping[str, str]
Built = tuple[AbstractFileSystem, str]


def refuse(rc: RemoteConfig, what: str, hint: str) -> ConfigError:
    return ConfigError(f"remote '{rc.name}' ({rc.safe_url}): {what}", path=".dvc/config", hint=hint)


def flag(opts: Options, key: str, default: bool = False) -> bool:
    value = opts.get(key)
    return default if value is None else value.lower() == "true"


def _seconds(opts: Options, key: str, default: float) -> float:
    try:
        seconds = float(opts[key]) if key in opts else default
    except ValueError:
        return default
    return seconds if seconds > 0 else default


def _ssl_verify(opts: Options) -> bool | str:
    value = opts.get("ssl_verify")
    if value is None or value.lower() == "true":
        return True
    return False if value.lower() == "false" else value  # a CA bundle path


def _secret(rc: RemoteConfig, opts: Options, key: str, ask: str, who: str) -> str | None:
    """``opts[key]``, or asked on the terminal when ``opts[ask]`` (DVC's ask_password)."""
    if key in opts or not flag(opts, ask):
        return opts.get(key)
    if not sys.stdin.isatty():
        raise refuse(
            rc,
            f"{ask} is set but there is no terminal to ask for the {key}",
            f"Set it with: prefect-dvc remote modify --local {rc.name} {key} <{key}>",
        )
    return getpass.getpass(f"Enter a {key} for {who}:\n")


# --------------------------------------------------------------------------- kinds


def _gs(rc: RemoteConfig, split: SplitResult, opts: Options) -> Built:
    import aiohttp
    from gcsfs.core import GCSFileSystem

    # NOTE: gcsfs logs each failed request with its traceback; our one line says it.
    logging.getLogger("gcsfs").setLevel(logging.CRITICAL)
    token = "anon" if flag(opts, "allow_anonymous_login") else opts.get("credentialpath")
    kwargs: dict[str, Any] = {"token": token, "consistency": None}
    if "projectname" in opts:
        kwargs["project"] = opts["projectname"]
    if "endpointurl" in opts:
        kwargs["endpoint_url"] = opts["endpointurl"]
    # NOTE: per-socket timeouts, not a total one, so a large object still uploads;
    # given per request, as gcsfs passes its requests_timeout (None: no timeout at all).
    kwargs["requests_timeout"] = aiohttp.ClientTimeout(
        total=None, sock_connect=DEFAULT_CONNECT_TIMEOUT, sock_read=DEFAULT_READ_TIMEOUT
    )
    kwargs["session_kwargs"] = {"trust_env": True}
    # NOTE: gcsfs.core's class, not the package's default export: since 2026.x that is
    # an experimental subclass asking the gRPC storage-control API for the bucket
    # type first, a second service (and TLS endpoint) besides the JSON API.
    fs = _few_retries(GCSFileSystem)(skip_instance_cache=True, use_listings_cache=False, **kwargs)
    return fs, f"{split.netloc}{split.path}".rstrip("/")


@functools.cache
def _bounded_azure(cls: type[Any]) -> type[Any]:
    """adlfs's filesystem whose blob client waits seconds, not minutes, for an endpoint.

    adlfs passes its timeouts to uploads and downloads only, and builds the
    client with azure-core's defaults (retries with back-off, no connect
    timeout on metadata calls): an endpoint that never answers would hold
    ``exists`` for minutes. The client is rebuilt with the same URL and
    credential, no retry and the remote's timeouts.
    """
    from azure.storage.blob.aio import BlobServiceClient

    def do_connect(self: Any) -> None:
        cls.do_connect(self)
        made = self.service_client
        timeouts = self._timeout_kwargs
        self.service_client = BlobServiceClient(
            account_url=made.url,
            credential=made.credential,
            retry_total=0,
            connection_timeout=timeouts.get("connection_timeout", DEFAULT_CONNECT_TIMEOUT),
            read_timeout=timeouts.get("read_timeout", DEFAULT_READ_TIMEOUT),
        )

    return type("BoundedAzureBlobFileSystem", (cls,), {"do_connect": do_connect})


AZURE_ENV: Mapping[str, str] = {
    "connection_string": "AZURE_STORAGE_CONNECTION_STRING",
    "account_name": "AZURE_STORAGE_ACCOUNT",
    "account_key": "AZURE_STORAGE_KEY",
    "sas_token": "AZURE_STORAGE_SAS_TOKEN",
}


def _few_retries(cls: type[Any]) -> type[Any]:
    """gcsfs's filesystem retrying a request twice, not six times.

    gcsfs wraps ``_request`` in ``retry_request(retries=6)`` with back-off up to
    32 s (1 + 2 + 4 + 8 + 16 s of sleep alone), so an endpoint that never answers
    would hold a command for minutes; DVC's 30 s promise needs two attempts.
    """
    from gcsfs.retry import retry_request

    once = cls._request.__wrapped__
    return type("FewRetriesGCSFileSystem", (cls,), {"_request": retry_request(once, retries=2)})


def _azure(rc: RemoteConfig, split: SplitResult, opts: Options) -> Built:
    import adlfs

    kwargs: dict[str, Any] = {
        k: opts[k]
        for k in (
            "connection_string",
            "account_name",
            "account_key",
            "sas_token",
            "tenant_id",
            "client_id",
            "client_secret",
        )
        if k in opts
    }
    # NOTE: dvc-azure falls back to the az CLI config, which environment
    # variables AZURE_STORAGE_<OPTION> override: the credentials of a scheduled run.
    for key, env in AZURE_ENV.items():
        if key not in kwargs and os.environ.get(env):
            kwargs[key] = os.environ[env]
    if not (kwargs.get("account_name") or kwargs.get("connection_string")):
        # NOTE: dvc-azure's own wording.
        raise refuse(
            rc,
            "Authentication to Azure Blob Storage requires either account_name or "
            "connection_string",
            f"Set one with: prefect-dvc remote modify --local {rc.name} account_name <name>",
        )
    kwargs["anon"] = flag(opts, "allow_anonymous_login")
    for key in (
        "exclude_environment_credential",
        "exclude_visual_studio_code_credential",
        "exclude_shared_token_cache_credential",
        "exclude_managed_identity_credential",
    ):
        if key in opts:
            kwargs[key] = flag(opts, key)
    kwargs["connection_timeout"] = int(
        _seconds(opts, "connection_timeout", DEFAULT_CONNECT_TIMEOUT)
    )
    kwargs["read_timeout"] = int(_seconds(opts, "read_timeout", DEFAULT_READ_TIMEOUT))
    if "timeout" in opts:
        kwargs["timeout"] = int(_seconds(opts, "timeout", DEFAULT_READ_TIMEOUT))
    # NOTE: adlfs commits a block blob when the file closes, even with
    # autocommit=False: write under a temporary name, then copy into place.
    cls = kind_fs.atomic_writes(_bounded_azure(adlfs.AzureBlobFileSystem))
    fs = cls(skip_instance_cache=True, use_listings_cache=False, **kwargs)
    return fs, f"{split.netloc}{split.path}".rstrip("/")


def _ssh(rc: RemoteConfig, split: SplitResult, opts: Options) -> Built:
    from sshfs import SSHFileSystem

    user = opts.get("user") or split.username
    port = int(opts["port"]) if "port" in opts else split.port
    host = split.hostname or ""
    who = f"{user + '@' if user else ''}{host}"
    kwargs: dict[str, Any] = {
        "password": _secret(rc, opts, "password", "ask_password", who),
        "passphrase": _secret(rc, opts, "passphrase", "ask_passphrase", who),
        "timeout": _seconds(opts, "timeout", DEFAULT_CONNECT_TIMEOUT * 2),
        "gss_auth": flag(opts, "gss_auth"),
        # NOTE: as dvc-ssh: fast ciphers, no compression (it blocks the event loop).
        "encryption_algs": ["aes128-gcm@openssh.com", "aes256-ctr", "aes192-ctr", "aes128-ctr"],
        "compression_algs": None,
    }
    if user:
        kwargs["username"] = user
    if port:
        kwargs["port"] = port
    if "keyfile" in opts:
        kwargs["client_keys"] = [os.path.expanduser(opts["keyfile"])]
    if not flag(opts, "allow_agent", True):
        kwargs["agent_path"] = None
    if "max_sessions" in opts:
        kwargs["max_sessions"] = int(opts["max_sessions"])
    kwargs = {k: v for k, v in kwargs.items() if v is not None or k == "compression_algs"}
    cls = kind_fs.atomic_writes(SSHFileSystem)
    fs = cls(host, skip_instance_cache=True, **kwargs)
    return fs, split.path.rstrip("/") or "/"


def _webdav(rc: RemoteConfig, split: SplitResult, opts: Options) -> Built:
    import httpx
    from webdav4.fsspec import WebdavFileSystem

    scheme = split.scheme.replace("webdav", "http")
    netloc = split.hostname or ""
    if split.port:
        netloc += f":{split.port}"
    # NOTE: the server root as base URL and the path as root: webdav4 creates
    # folders only below its base URL, and the remote's own folder may not exist yet.
    base_url = urlunsplit((scheme, netloc, "", "", ""))
    user = opts.get("user") or split.username
    headers: dict[str, str] = {}
    auth = None
    if "token" in opts:
        headers["Authorization"] = f"Bearer {opts['token']}"
    elif user:
        auth = (user, _secret(rc, opts, "password", "ask_password", f"{user}@{netloc}") or "")
    elif "custom_auth_header" in opts:
        password = _secret(rc, opts, "password", "ask_password", netloc) or ""
        headers[opts["custom_auth_header"]] = password
    if "bearer_token_command" in opts and "token" not in opts:
        headers["Authorization"] = f"Bearer {_bearer_token(rc, opts['bearer_token_command'])}"
    # NOTE: dvc-webdav waits 30 s; a few seconds, so a silent server is given up within 30 s.
    read = _seconds(opts, "timeout", DEFAULT_READ_TIMEOUT * 2)
    cert: Any = opts.get("cert_path")
    if cert and "key_path" in opts:
        cert = (cert, opts["key_path"])
    cls = kind_fs.strict_exists(kind_fs.atomic_writes(WebdavFileSystem))
    fs = cls(
        base_url,
        auth=auth,
        headers=headers,
        cert=cert,
        verify=_ssl_verify(opts),
        timeout=httpx.Timeout(read, connect=min(read, DEFAULT_CONNECT_TIMEOUT)),
        skip_instance_cache=True,
    )
    return fs, split.path.rstrip("/") or "/"


def _bearer_token(rc: RemoteConfig, command: str) -> str:
    """The token printed by ``bearer_token_command`` (dvc-webdav's ``BearerAuth``)."""
    import subprocess

    try:
        done = subprocess.run(
            command, shell=True, capture_output=True, text=True, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise refuse(
            rc,
            f"bearer_token_command failed ({type(exc).__name__})",
            "Run the command by hand and check that it prints a token",
        ) from None
    return done.stdout.strip()


def _http(rc: RemoteConfig, split: SplitResult, opts: Options) -> Built:
    import aiohttp

    auth = (opts.get("auth") or "").lower()
    client: dict[str, Any] = {"trust_env": True}
    password = _secret(rc, opts, "password", "ask_password", rc.safe_url) if auth else None
    if auth == "basic":
        if "user" not in opts or password is None:
            raise refuse(
                rc,
                "HTTP 'basic' authentication require both 'user' and 'password'",
                "Set them with: prefect-dvc remote modify --local",
            )
        # NOTE: the header itself: aiohttp deprecates BasicAuth objects (aiohttp 4).
        pair = base64.b64encode(f"{opts['user']}:{password}".encode()).decode()
        client["headers"] = {"Authorization": f"Basic {pair}"}
    elif auth == "custom":
        if "custom_auth_header" not in opts or password is None:
            raise refuse(
                rc,
                "HTTP 'custom' authentication require both 'custom_auth_header' and 'password'",
                "Set them with: prefect-dvc remote modify --local",
            )
        client["headers"] = {opts["custom_auth_header"]: password}
    elif auth:
        raise refuse(
            rc, f"HTTP '{auth}' authentication is not supported (nor by DVC)", "Use basic or custom"
        )
    connect = _seconds(opts, "connect_timeout", DEFAULT_CONNECT_TIMEOUT)
    client["timeout"] = aiohttp.ClientTimeout(
        total=None,
        connect=connect,
        sock_connect=connect,
        sock_read=_seconds(opts, "read_timeout", DEFAULT_READ_TIMEOUT),
    )
    method = (opts.get("method") or "POST").lower()
    if method not in ("post", "put"):
        raise refuse(rc, f"method '{method}' is neither POST nor PUT", "Set method to PUT or POST")
    extra: dict[str, Any] = {}
    verify = _ssl_verify(opts)
    if verify is not True:
        extra["ssl"] = _ssl_context(verify)
    fs = kind_fs.http_filesystem(
        method, client_kwargs=client, skip_instance_cache=True, use_listings_cache=False, **extra
    )
    return fs, rc.url.rstrip("/")


def _ssl_context(verify: bool | str) -> Any:
    if isinstance(verify, bool):
        return verify
    import ssl

    context = ssl.create_default_context()
    context.load_verify_locations(verify)
    return context


def hdfs_kwargs(split: SplitResult, opts: Options) -> dict[str, Any]:
    """fsspec ``HadoopFileSystem`` arguments for an ``hdfs://`` remote, as dvc-hdfs builds them.

    dvc-hdfs 3 passes its options unchanged beside the URL's host, port and
    user (``HadoopFileSystem._get_kwargs_from_urls``); the ``user`` option wins.
    """
    kwargs: dict[str, Any] = {"host": split.hostname or "default", "port": split.port or 0}
    if opts.get("user") or split.username:
        kwargs["user"] = opts.get("user") or split.username
    if "kerb_ticket" in opts:
        kwargs["kerb_ticket"] = opts["kerb_ticket"]
    if "replication" in opts:
        kwargs["replication"] = int(opts["replication"])
    return kwargs


def _hdfs(rc: RemoteConfig, split: SplitResult, opts: Options) -> Built:
    from fsspec.implementations.arrow import HadoopFileSystem

    return HadoopFileSystem(**hdfs_kwargs(split, opts)), split.path.rstrip("/") or "/"


def webhdfs_kwargs(split: SplitResult, opts: Options) -> dict[str, Any]:
    """fsspec ``WebHDFS`` arguments for a ``webhdfs://`` remote, as dvc-webhdfs builds them.

    dvc-webhdfs 3 (``_prepare_credentials``): ``kerberos_principal`` becomes
    ``kerb_kwargs={"principal": ...}``; ``data_proxy_target`` replaces the
    namenode's own ``<http|https>://host:port/webhdfs/v1`` URL; host, port and
    user come from the URL (``WebHDFS._get_kwargs_from_urls``), the ``user``
    option winning; ``ssl_verify`` becomes the session's ``verify``.
    """
    host, port = split.hostname or "", split.port or 50070
    kwargs: dict[str, Any] = {"host": host, "port": port}
    if split.username:
        kwargs["user"] = split.username
    for key in ("proxy_to", "token", "user", "password"):
        if key in opts:
            kwargs[key] = opts[key]
    if "kerberos_principal" in opts:
        kwargs["kerb_kwargs"] = {"principal": opts["kerberos_principal"]}
    kwargs["kerberos"] = flag(opts, "kerberos")
    kwargs["use_https"] = flag(opts, "use_https")
    if "data_proxy_target" in opts:
        scheme = "https" if kwargs["use_https"] else "http"
        kwargs["data_proxy"] = {f"{scheme}://{host}:{port}/webhdfs/v1": opts["data_proxy_target"]}
    verify = _ssl_verify(opts)
    if verify is not True:
        kwargs["session_verify"] = verify
    return kwargs


@functools.cache
def _checked_rename(cls: type[Any]) -> type[Any]:
    """fsspec's ``WebHDFS`` whose ``mv`` raises when the namenode refuses the rename.

    HDFS answers a RENAME onto an existing path (or into a missing folder)
    with ``{"boolean": false}``, which fsspec ignores: a write would look
    done while its temporary file stayed behind under its temporary name.
    """

    def mv(self: Any, path1: str, path2: str, **kwargs: Any) -> None:
        out = self._call("RENAME", method="put", path=path1, destination=path2)
        if out.json().get("boolean") is not True:
            raise OSError(f"the namenode refused to rename '{path1}' to '{path2}'")

    return type("CheckedRenameWebHDFS", (cls,), {"mv": mv})


def _webhdfs(rc: RemoteConfig, split: SplitResult, opts: Options) -> Built:
    from fsspec.implementations.webhdfs import WebHDFS

    # NOTE: a WebHDFS CREATE shows an empty file that APPENDs then fill, and
    # fsspec's exists() answers False for any error: writes go through a
    # temporary name, and only "no such path" is "missing".
    cls = kind_fs.strict_exists(kind_fs.atomic_writes(_checked_rename(WebHDFS)))
    fs: Any = cls(skip_instance_cache=True, **webhdfs_kwargs(split, opts))
    # NOTE: requests waits forever without a timeout; DVC's webhdfs schema has
    # no timeout option, so every request gets the defaults (connect, read).
    fs.session.request = functools.partial(
        fs.session.request, timeout=(DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT)
    )
    return fs, split.path.rstrip("/") or "/"


def oss_kwargs(opts: Options) -> dict[str, Any]:
    """ossfs arguments for an ``oss://`` remote, as dvc-oss builds them.

    dvc-oss 3 (``_prepare_credentials``): ``oss_key_id``/``oss_key_secret``,
    else the ``OSS_ACCESS_KEY_ID``/``OSS_ACCESS_KEY_SECRET`` environment
    variables, and ``oss_endpoint``; unset values are left to ossfs.
    """
    kwargs = {
        "key": opts.get("oss_key_id") or os.environ.get("OSS_ACCESS_KEY_ID"),
        "secret": opts.get("oss_key_secret") or os.environ.get("OSS_ACCESS_KEY_SECRET"),
        "endpoint": opts.get("oss_endpoint"),
    }
    return {k: v for k, v in kwargs.items() if v}


def _oss(rc: RemoteConfig, split: SplitResult, opts: Options) -> Built:
    import ossfs

    fs = ossfs.OSSFileSystem(skip_instance_cache=True, **oss_kwargs(opts))
    return fs, f"{split.netloc}{split.path}".rstrip("/")


def _gdrive(rc: RemoteConfig, split: SplitResult, opts: Options) -> Built:
    raise refuse(
        rc,
        "gdrive remotes are not supported: the maintained Google Drive fsspec filesystems "
        "(pydrive2's, gdrive-fsspec) need an interactive OAuth flow DVC drives itself",
        "Use DVC for this remote, or move the data to gs://, s3:// or another kind",
    )


BUILDERS: Mapping[str, Callable[[RemoteConfig, SplitResult, Options], Built]] = {
    "gs": _gs,
    "azure": _azure,
    "ssh": _ssh,
    "webdav": _webdav,
    "webdavs": _webdav,
    "http": _http,
    "https": _http,
    "hdfs": _hdfs,
    "webhdfs": _webhdfs,
    "oss": _oss,
    "gdrive": _gdrive,
}
