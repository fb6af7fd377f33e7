"""One classification of remote failures, for every remote kind (issue #14 §3 "say what is true").

Provides:
    Problem: what is wrong with a remote (missing bucket/container, no or
        rejected credentials, denied access, wrong region, unreachable,
        untrusted certificate).
    classify(exc): the ``(Problem, code)`` behind an exception raised by any
        kind's client library, or ``None`` for a failure we cannot name.
    remote_problem(scheme, root, exc): ``(what is wrong, what to do)`` for
        one remote, naming its bucket or container and the kind's own options.
    describe(problem, code, scheme, root, detail): the same for a known problem.
    missing_container(fs, scheme, root): the line for a bucket/container
        that does not exist (``gs``, ``azure``, ``oss``), else ``None``.
    missing_folder(fs, root): whether a remote's root folder does not exist
        (``ssh``, ``webdav``, ``webhdfs``, a local path).

Signals are read by class name and status/error code along the exception
chain, so no client library (botocore, gcsfs, azure-core, asyncssh,
webdav4, aiohttp, httpx, requests) is imported here; most are optional extras:

- s3: botocore's error codes (``NoSuchBucket``, ``AccessDenied``,
  ``InvalidAccessKeyId``, ``PermanentRedirect``...) and ``NoCredentialsError``.
- gs: gcsfs's ``HttpError.code`` (401, 403) and google-auth's
  ``DefaultCredentialsError``/``RefreshError``; gcsfs turns a missing bucket
  into ``FileNotFoundError``, so the probe asks for the bucket itself.
- azure: the service's ``x-ms-error-code`` (``ContainerNotFound``,
  ``AuthenticationFailed``, ``AuthorizationPermissionMismatch``...) and
  azure-identity's ``CredentialUnavailableError``.
- ssh: asyncssh's ``PermissionDenied`` (login refused), ``HostKeyNotVerifiable``
  and ``SFTPPermissionDenied``.
- webdav/http/webhdfs: the response status (401, 403) of webdav4's
  ``HTTPError``, aiohttp's ``ClientResponseError`` or requests' ``HTTPError``.
- every kind: connection refused/reset, timeouts and TLS verification failures.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Iterator, Mapping
from typing import Any

from prefect_dvc.storage.remote_hints import (
    TIMEOUTS,
    address_options,
    credential_hints,
    untrusted_hint,
)


class Problem(enum.Enum):
    """What is wrong with a remote."""

    MISSING_CONTAINER = "missing bucket or container"
    NO_CREDENTIALS = "no credentials"
    REJECTED = "credentials rejected"
    DENIED = "access denied"
    WRONG_REGION = "wrong region"
    UNREACHABLE = "unreachable"
    UNTRUSTED = "untrusted certificate"


_BUCKET_KINDS = {"s3": "bucket", "gs": "bucket", "oss": "bucket", "azure": "container"}

_S3_CODES: Mapping[str, Problem] = {
    # NOTE: not "404": a HEAD on one missing object says that too.
    "NoSuchBucket": Problem.MISSING_CONTAINER,
    **dict.fromkeys(("AccessDenied", "403", "AllAccessDisabled", "AccountProblem"), Problem.DENIED),
    **dict.fromkeys(
        ("InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken"),
        Problem.REJECTED,
    ),
    **dict.fromkeys(
        (
            "PermanentRedirect",
            "301",
            "TemporaryRedirect",
            "307",
            "AuthorizationHeaderMalformed",
            "IllegalLocationConstraintException",
        ),
        Problem.WRONG_REGION,
    ),
}

_AZURE_CODES: Mapping[str, Problem] = {
    "ContainerNotFound": Problem.MISSING_CONTAINER,
    "ContainerBeingDeleted": Problem.MISSING_CONTAINER,
    "NoAuthenticationInformation": Problem.NO_CREDENTIALS,
    **dict.fromkeys(
        ("AuthenticationFailed", "InvalidAuthenticationInfo", "KeyBasedAuthenticationNotPermitted"),
        Problem.REJECTED,
    ),
    **dict.fromkeys(
        (
            "AuthorizationFailure",
            "AuthorizationPermissionMismatch",
            "AuthorizationResourceTypeMismatch",
            "AuthorizationServiceMismatch",
            "AuthorizationSourceIPMismatch",
            "AuthorizationProtocolMismatch",
            "InsufficientAccountPermissions",
            "AccountIsDisabled",
        ),
        Problem.DENIED,
    ),
}

_CLASSES: Mapping[str, Problem] = {
    "NoCredentialsError": Problem.NO_CREDENTIALS,  # botocore
    "PartialCredentialsError": Problem.NO_CREDENTIALS,  # botocore
    "DefaultCredentialsError": Problem.NO_CREDENTIALS,  # google-auth
    "CredentialUnavailableError": Problem.NO_CREDENTIALS,  # azure-identity
    "RefreshError": Problem.REJECTED,  # google-auth: a key or token refused
    "ClientAuthenticationError": Problem.REJECTED,  # azure-core
    "PermissionDenied": Problem.REJECTED,  # asyncssh: the login is refused
    "SFTPPermissionDenied": Problem.DENIED,  # asyncssh: a path is refused
    "HostKeyNotVerifiable": Problem.UNTRUSTED,  # asyncssh
    # NOTE: ssl's, aiohttp's and botocore's names for a certificate the client
    # cannot verify (self-signed, an unknown CA): retrying or waiting cannot help.
    "SSLCertVerificationError": Problem.UNTRUSTED,
    "ClientConnectorCertificateError": Problem.UNTRUSTED,
    **dict.fromkeys(
        (
            "ConnectTimeoutError",  # botocore
            "ReadTimeoutError",
            "EndpointConnectionError",
            "ConnectionClosedError",
            "TimeoutError",  # builtin, asyncio
            "ConnectionRefusedError",
            "ConnectionResetError",
            "ServerDisconnectedError",  # aiohttp
            "ClientConnectorError",
            "ServerTimeoutError",
            "ConnectionTimeoutError",
            "SocketTimeoutError",
            "ServiceRequestError",  # azure-core
            "ServiceResponseError",
            "ConnectError",  # httpx (webdav4)
            "ConnectTimeout",
            "ReadTimeout",
            "PoolTimeout",
            "RemoteProtocolError",
            "ConnectionError",  # builtin; requests (webhdfs): refused, reset, no route
            "gaierror",  # an unknown host name
            "ConnectionLost",  # asyncssh
        ),
        Problem.UNREACHABLE,
    ),
}

# NOTE: checked first along the chain: the most specific reason wins (a
# certificate error is also a connection error).
_ORDER = (
    Problem.MISSING_CONTAINER,
    Problem.WRONG_REGION,
    Problem.NO_CREDENTIALS,
    Problem.REJECTED,
    Problem.DENIED,
    Problem.UNTRUSTED,
    Problem.UNREACHABLE,
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _status(item: BaseException) -> int | None:
    """The HTTP status of a failed response (gcsfs ``code``, webdav4 ``status_code``,
    aiohttp ``status``, requests ``response.status_code``)."""
    for holder in (item, getattr(item, "response", None)):
        for name in ("status_code", "status", "code"):
            value = getattr(holder, name, None)
            if isinstance(value, int) and 100 <= value < 600:
                return value
    return None


def _code_of(item: BaseException) -> tuple[Problem, str] | None:
    response = getattr(item, "response", None)
    if isinstance(response, Mapping):  # botocore's ClientError
        code = str((response.get("Error") or {}).get("Code") or "")
        return (_S3_CODES[code], code) if code in _S3_CODES else None
    code = ""
    with contextlib.suppress(Exception):
        code = str(getattr(item, "error_code", None) or response.headers["x-ms-error-code"])
    code = code.split(".")[-1] if code.startswith("StorageErrorCode") else code
    if code in _AZURE_CODES:
        problem = _AZURE_CODES[code]
        # NOTE: Azurite answers a wrong account key with AuthorizationFailure
        # ("Server failed to authenticate the request"); Azure says AuthenticationFailed.
        if code == "AuthorizationFailure" and "authenticate" in str(item).lower():
            problem = Problem.REJECTED
        return problem, code
    return None


def classify(exc: BaseException) -> tuple[Problem, str] | None:
    """The problem behind ``exc`` (any kind's client error) and the code that says it.

    Returns:
        ``(problem, code)`` where ``code`` is the service's error code, the
        HTTP status or the exception class name; ``None`` when not recognised.
    """
    found: list[tuple[Problem, str]] = []
    for item in _chain(exc):
        coded = _code_of(item)
        if coded is not None:
            found.append(coded)
        name = type(item).__name__
        if name in _CLASSES:
            found.append((_CLASSES[name], name))
        if name == "ClientAuthenticationError" and "failed to retrieve a token" in str(item):
            # NOTE: azure-identity's DefaultAzureCredential found no credential to try.
            found.append((Problem.NO_CREDENTIALS, "DefaultAzureCredential"))
        status = _status(item)
        if status in (401, 403) and type(item).__module__.split(".")[0] in (
            "gcsfs",
            "webdav4",
            "aiohttp",
            "httpx",
            "requests",
        ):
            found.append((Problem.REJECTED if status == 401 else Problem.DENIED, str(status)))
    if not found:
        return None
    return min(found, key=lambda pair: _ORDER.index(pair[0]))


def _noun(scheme: str, root: str) -> str:
    kind = _BUCKET_KINDS.get(scheme)
    return f"{kind} '{root.split('/', 1)[0]}'" if kind else "the server"


def remote_problem(
    scheme: str, root: str, exc: BaseException, detail: str
) -> tuple[str, str] | None:
    """``(what is wrong, what to do)`` for a remote's failure, or ``None`` when unknown.

    Args:
        scheme: the remote's URL scheme (``s3``, ``gs``, ``azure``, ``ssh``...).
        root: its root path on the filesystem (``bucket/prefix`` for bucket kinds).
        exc: what the client library raised.
        detail: ``exc`` as one redacted line, quoted for unreachable and TLS failures.
    """
    found = classify(exc)
    if found is None:
        return None
    return describe(found[0], found[1], scheme, root, detail)


def describe(problem: Problem, code: str, scheme: str, root: str, detail: str) -> tuple[str, str]:
    """``(what is wrong, what to do)`` for ``problem`` on a remote of kind ``scheme``.

    Every option a hint names is one of that kind's options in DVC's
    ``config_schema.REMOTE_SCHEMAS`` (no endpointurl for HTTP, no region but for s3).
    """
    noun = _noun(scheme, root)
    missing_hint, rejected_hint = credential_hints(scheme)
    if problem is Problem.MISSING_CONTAINER:
        return f"{noun} does not exist", "Create it, or fix the remote's url"
    if code == "PartialCredentialsError" and scheme == "s3":
        return (
            f"the credentials for {noun} are incomplete",
            "Set both access_key_id and secret_access_key",
        )
    if problem is Problem.NO_CREDENTIALS:
        return f"no credentials found for {noun} ({code})", missing_hint
    if problem is Problem.REJECTED:
        return f"the credentials for {noun} are rejected ({code})", rejected_hint
    if problem is Problem.DENIED:
        what = noun if noun != "the server" else "the remote's folder"
        return (
            f"access to {noun} is denied ({code})",
            f"Check that these credentials may list, read and write {what}",
        )
    if problem is Problem.WRONG_REGION:
        hint = (
            "Set the bucket's region with: prefect-dvc remote modify <name> region <region>"
            if scheme == "s3"
            else f"Check the remote's {address_options(scheme)}"
        )
        return f"{noun} is in another region than the one configured ({code})", hint
    if problem is Problem.UNTRUSTED:
        what = "host key" if scheme == "ssh" else "TLS certificate"
        return f"the server's {what} cannot be verified ({detail})", untrusted_hint(scheme)
    timeouts = TIMEOUTS.get(scheme)
    wait = f" (the wait is the remote's {timeouts} option)" if timeouts else ""
    return (
        f"the endpoint does not answer ({detail})",
        f"Check the remote's {address_options(scheme)} and your network{wait}",
    )


def missing_container(fs: Any, scheme: str, root: str) -> str | None:
    """``"bucket 'b' does not exist"`` when ``root``'s bucket/container is missing, else ``None``.

    Asked only after ``root`` itself was not found (a new remote, or a wrong
    bucket): gcsfs and adlfs report a missing bucket as a missing path. A
    refusal to describe the bucket (credentials that may read objects but not
    the bucket's metadata) is not taken as an answer.
    """
    if scheme not in _BUCKET_KINDS or scheme == "s3":
        return None
    bucket = root.split("/", 1)[0]
    try:
        present = fs.exists(bucket)
    except Exception:  # NOTE: the request that failed first names the problem
        return None
    return None if present else f"{_noun(scheme, root)} does not exist"


def missing_folder(fs: Any, root: str) -> bool:
    """Whether the remote's root folder does not exist (asked when objects were missing)."""
    try:
        return not fs.exists(root)
    except Exception:
        return False
