"""Fresh buckets on the session's moto S3 server (``from moto_buckets import ...``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

#: The keys moto accepts; set in the environment of whatever talks to it.
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@contextmanager
def fresh_bucket(endpoint: str, mp: pytest.MonkeyPatch, prefix: str) -> Iterator[str]:
    """Create ``<prefix>-<12 hex>`` on ``endpoint`` and yield its name.

    ``CREDENTIALS`` are set in ``os.environ`` through ``mp`` (undone by its
    owner); s3fs's instance cache is cleared on both sides, so no file
    system made for another endpoint or bucket is reused.
    """
    import s3fs

    for key, value in CREDENTIALS.items():
        mp.setenv(key, value)
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    fs = s3fs.S3FileSystem(
        key="testing", secret="testing", client_kwargs={"endpoint_url": endpoint}
    )
    fs.mkdir(name)
    s3fs.S3FileSystem.clear_instance_cache()
    yield name
    s3fs.S3FileSystem.clear_instance_cache()
