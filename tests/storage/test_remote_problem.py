"""One true line for the ways an S3 remote fails (issue #14 §3 "say what is true").

The errors are botocore's own, put through s3fs's own translation
(``s3fs.errors.translate_boto_error``) exactly as a failing request raises them.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
)
from s3fs.errors import translate_boto_error

from prefect_dvc.errors import RemoteError
from prefect_dvc.storage.location import open_location, storage_errors
from prefect_dvc.storage.remote_errors import remote_problem

SECRET = "s3cr3t-value"


def _client_error(code: str, message: str) -> BaseException:
    error = ClientError({"Error": {"Code": code, "Message": message}}, "ListObjectsV2")
    return translate_boto_error(error)


CASES = [
    (_client_error("NoSuchBucket", "The specified bucket does not exist"), "does not exist"),
    (_client_error("AccessDenied", "Access Denied"), "access to bucket 'bkt' is denied"),
    (_client_error("403", "Forbidden"), "access to bucket 'bkt' is denied"),
    (
        _client_error("InvalidAccessKeyId", "no such key"),
        "credentials for bucket 'bkt' are rejected",
    ),
    (_client_error("SignatureDoesNotMatch", "bad sig"), "are rejected (SignatureDoesNotMatch)"),
    (_client_error("PermanentRedirect", "use the other endpoint"), "in another region"),
    (_client_error("AuthorizationHeaderMalformed", "region is wrong"), "in another region"),
    (NoCredentialsError(), "no credentials found for bucket 'bkt'"),
    (PartialCredentialsError(provider="env", cred_var="secret"), "for bucket 'bkt' are incomplete"),
    (EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), "the endpoint does not answer"),
    (ReadTimeoutError(endpoint_url="http://127.0.0.1:9"), "the endpoint does not answer"),
    (ConnectTimeoutError(endpoint_url="http://127.0.0.1:9"), "the endpoint does not answer"),
]


@pytest.mark.parametrize(("raised", "said"), CASES)
def test_each_failure_is_named_in_one_line(raised: BaseException, said: str) -> None:
    location = open_location("s3://bkt/store", {"key": "AKIAEXAMPLE", "secret": SECRET})
    with pytest.raises(RemoteError) as caught, storage_errors(location, "list the bucket"):
        raise raised
    text = str(caught.value)
    assert said in text and "s3://bkt/store" in text
    assert "\n" not in text and SECRET not in text
    if "does not exist" in said:
        assert "bucket 'bkt' does not exist" in text and "push" not in text.lower()


def test_unknown_failures_keep_their_own_text() -> None:
    location = open_location("s3://bkt/store", {"key": "AKIAEXAMPLE", "secret": SECRET})
    with (
        pytest.raises(RemoteError, match="something broke"),
        storage_errors(location, "list objects"),
    ):
        raise _client_error("InternalError", "something broke")


def _gcs_http(code: int) -> BaseException:
    from gcsfs.retry import HttpError

    return HttpError({"code": code, "message": "denied by policy"})


def _azure(code: str, status: int, message: str = "refused") -> BaseException:
    from azure.core.exceptions import HttpResponseError

    error = HttpResponseError(message=message)
    error.status_code, error.error_code = status, code
    return error


def _azure_identity() -> BaseException:
    from azure.core.exceptions import ClientAuthenticationError

    # NOTE: the text of azure-identity's ChainedTokenCredential
    # (_credentials/chained.py) when none of its credentials is available;
    # asking for a real token could find a managed identity on a cloud runner.
    return ClientAuthenticationError(
        message="DefaultAzureCredential failed to retrieve a token from the included credentials."
    )


def _requests(status: int) -> BaseException:
    import requests

    response = requests.Response()
    response.status_code, response.url = status, "http://nn:9870/webhdfs/v1/p"
    try:
        response.raise_for_status()
    except requests.HTTPError as exc:
        return exc
    raise AssertionError(status)


def _requests_refused() -> BaseException:
    import requests

    return requests.exceptions.ConnectionError("Max retries exceeded: Connection refused")


def _aiohttp(status: int) -> BaseException:
    from aiohttp import ClientResponseError, RequestInfo
    from multidict import CIMultiDict, CIMultiDictProxy
    from yarl import URL

    info = RequestInfo(URL("http://h/x"), "GET", CIMultiDictProxy(CIMultiDict()))
    return ClientResponseError(info, (), status=status, message="refused")


def _asyncssh(name: str) -> BaseException:
    import asyncssh

    return getattr(asyncssh, name)("refused")


def _google_auth(name: str) -> BaseException:
    from google.auth import exceptions

    return getattr(exceptions, name)("no key")


# NOTE: (scheme, root, the client library's own exception, the line's middle)
KIND_CASES = [
    ("gs", "bkt/p", lambda: _gcs_http(401), "the credentials for bucket 'bkt' are rejected (401)"),
    ("gs", "bkt/p", lambda: _gcs_http(403), "access to bucket 'bkt' is denied (403)"),
    (
        "gs",
        "bkt/p",
        lambda: _google_auth("DefaultCredentialsError"),
        "no credentials found for bucket 'bkt' (DefaultCredentialsError)",
    ),
    (
        "gs",
        "bkt/p",
        lambda: _google_auth("RefreshError"),
        "the credentials for bucket 'bkt' are rejected (RefreshError)",
    ),
    (
        "azure",
        "ctr/p",
        lambda: _azure("ContainerNotFound", 404),
        "container 'ctr' does not exist",
    ),
    (
        "azure",
        "ctr/p",
        lambda: _azure("AuthenticationFailed", 403),
        "the credentials for container 'ctr' are rejected (AuthenticationFailed)",
    ),
    (
        "azure",
        "ctr/p",
        lambda: _azure("AuthorizationPermissionMismatch", 403),
        "access to container 'ctr' is denied (AuthorizationPermissionMismatch)",
    ),
    (
        "azure",
        "ctr/p",
        lambda: _azure("NoAuthenticationInformation", 401),
        "no credentials found for container 'ctr' (NoAuthenticationInformation)",
    ),
    (
        "ssh",
        "/srv",
        lambda: _asyncssh("PermissionDenied"),
        "the credentials for the server are rejected (PermissionDenied)",
    ),
    (
        "ssh",
        "/srv",
        lambda: _asyncssh("HostKeyNotVerifiable"),
        "the server's host key cannot be verified",
    ),
    (
        "ssh",
        "/srv",
        lambda: _asyncssh("SFTPPermissionDenied"),
        "access to the server is denied (SFTPPermissionDenied)",
    ),
    (
        "azure",
        "ctr/p",
        lambda: _azure_identity(),
        "no credentials found for container 'ctr' (DefaultAzureCredential)",
    ),
    ("https", "/", lambda: _aiohttp(401), "the credentials for the server are rejected (401)"),
    ("https", "/", lambda: _aiohttp(403), "access to the server is denied (403)"),
    ("webdav", "/", lambda: ConnectionRefusedError(111, "refused"), "does not answer"),
    ("webhdfs", "/", lambda: _requests(401), "the credentials for the server are rejected (401)"),
    ("webhdfs", "/", lambda: _requests(403), "access to the server is denied (403)"),
    ("webhdfs", "/", lambda: _requests_refused(), "does not answer"),
]


@pytest.mark.parametrize(("scheme", "root", "make", "said"), KIND_CASES)
def test_every_kind_names_its_problem(scheme: str, root: str, make: Any, said: str) -> None:
    what, hint = remote_problem(scheme, root, make(), "detail")
    assert said in what and hint
    assert "push" not in hint.lower()


def test_an_object_missing_is_not_a_problem_of_the_remote() -> None:
    # NOTE: a 404 on one object is "missing object", never "missing bucket".
    assert remote_problem("https", "/", _aiohttp(404), "detail") is None
    assert remote_problem("gs", "bkt/p", FileNotFoundError("b/bkt/o/x"), "detail") is None
