"""The stores of the conformance suite: one real server per kind, per session.

``store`` is parametrised over every kind; each test gets a fresh prefix
(a uuid) on that kind's session server, as ``(url, options)`` for a
``remote "name"`` section, plus the kind's capabilities.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import servers

from prefect_dvc.config import RemoteConfig

CLI = str(Path(sys.executable).with_name("prefect-dvc"))


@dataclass(frozen=True)
class Store:
    """One kind's fresh remote: its URL, options and what it can do."""

    kind: str
    url: str
    options: dict[str, str] = field(default_factory=dict)
    can_list: bool = True

    def config(self, name: str = "store") -> RemoteConfig:
        return RemoteConfig(name, self.url, tuple(self.options.items()))


KINDS = ("local", "memory", "s3", "gs", "azure", "ssh", "webdav", "http", "webhdfs")


@pytest.fixture(scope="session")
def gcs_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from gcsfs.core import GCSFileSystem

    url, stop = servers.start_gcs(tmp_path_factory.mktemp("gcs"))
    fs = GCSFileSystem(endpoint_url=url, token="anon", skip_instance_cache=True)
    fs.mkdir("conformance")
    yield url
    stop()


@pytest.fixture(scope="session")
def azure_connection(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import adlfs

    conn, stop = servers.start_azurite(tmp_path_factory.mktemp("azurite"))
    fs = adlfs.AzureBlobFileSystem(connection_string=conn, skip_instance_cache=True)
    fs.mkdir("conformance")
    yield conn
    stop()


@pytest.fixture(scope="session")
def sftp_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    data = tmp_path_factory.mktemp("sftp")
    port, stop = servers.start_sftp(data)
    yield port, data
    stop()


@pytest.fixture(scope="session")
def webdav_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url, stop = servers.start_webdav(tmp_path_factory.mktemp("webdav"))
    yield url
    stop()


@pytest.fixture(scope="session")
def webhdfs_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    address, stop = servers.start_webhdfs(tmp_path_factory.mktemp("webhdfs"))
    yield address
    stop()


@pytest.fixture(scope="session")
def http_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url, stop = servers.start_http(tmp_path_factory.mktemp("http"))
    yield url
    stop()


@pytest.fixture(scope="session")
def s3_conformance_bucket(s3_endpoint: str) -> str:
    import s3fs

    fs = s3fs.S3FileSystem(
        key="testing",
        secret="testing",
        client_kwargs={"endpoint_url": s3_endpoint},
        skip_instance_cache=True,
    )
    fs.mkdir("conformance")
    return "conformance"


def _make(request: pytest.FixtureRequest, kind: str, tmp_path: Path) -> Store:
    prefix = uuid.uuid4().hex[:12]
    if kind == "local":
        return Store(kind, str(tmp_path / "remote"))
    if kind == "memory":
        return Store(kind, f"memory://conformance-{prefix}")
    if kind == "s3":
        endpoint = request.getfixturevalue("s3_endpoint")
        bucket = request.getfixturevalue("s3_conformance_bucket")
        options = {
            "endpointurl": endpoint,
            "access_key_id": "testing",
            "secret_access_key": "testing",
        }
        return Store(kind, f"s3://{bucket}/{prefix}", options)
    if kind == "gs":
        endpoint = request.getfixturevalue("gcs_endpoint")
        options = {"endpointurl": endpoint, "allow_anonymous_login": "true"}
        return Store(kind, f"gs://conformance/{prefix}", options)
    if kind == "azure":
        conn = request.getfixturevalue("azure_connection")
        return Store(kind, f"azure://conformance/{prefix}", {"connection_string": conn})
    if kind == "ssh":
        port, _ = request.getfixturevalue("sftp_root")
        options = {"port": str(port), "password": servers.SSH_PASSWORD}
        return Store(kind, f"ssh://{servers.SSH_USER}@127.0.0.1/{prefix}", options)
    if kind == "webdav":
        base = request.getfixturevalue("webdav_url").replace("http://", "webdav://")
        return Store(kind, f"{base}/{prefix}")
    if kind == "webhdfs":
        address = request.getfixturevalue("webhdfs_address")
        return Store(kind, f"webhdfs://{address}/{prefix}")
    assert kind == "http"
    base = request.getfixturevalue("http_url")
    return Store(kind, f"{base}/{prefix}", {"method": "PUT"}, can_list=False)


@pytest.fixture(params=KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """A fresh remote of each kind."""
    return _make(request, request.param, tmp_path)


@pytest.fixture(params=[k for k in KINDS if k != "memory"])
def served_store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """A fresh remote of each kind another process can reach (not ``memory://``)."""
    return _make(request, request.param, tmp_path)


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture(scope="session")
def cli(prefect_api: None) -> Callable[..., Result]:
    """``cli(repo, *args)``: the real ``prefect-dvc`` console script against the harness."""
    from prefect.settings import PREFECT_API_URL

    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_API_URL"] = str(PREFECT_API_URL.value())
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"

    def run(repo: Path, *args: str) -> Result:
        proc = subprocess.run(
            [CLI, *args], cwd=repo, capture_output=True, text=True, env=env, timeout=300
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    return run
