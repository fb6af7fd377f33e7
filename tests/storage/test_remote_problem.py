"""One true line for the ways an S3 remote fails (issue #14 §3 "say what is true").

The errors are botocore's own, put through s3fs's own translation
(``s3fs.errors.translate_boto_error``) exactly as a failing request raises them.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)
from s3fs.errors import translate_boto_error

from prefect_dvc.errors import RemoteError
from prefect_dvc.storage.location import open_location, storage_errors

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
