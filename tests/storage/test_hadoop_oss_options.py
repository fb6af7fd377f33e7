"""hdfs, webhdfs and oss remotes: DVC's options become the fsspec arguments DVC's plugins build.

No HDFS namenode or OSS endpoint runs in the suite (pyarrow and ossfs are
optional extras, not installed for it); webhdfs also runs the conformance
suite against a WebHDFS REST server (``conformance/servers.py``). Checked
here: every option of real DVC's ``REMOTE_SCHEMAS`` for the kind reaches the
filesystem's arguments (none is dropped), each as dvc-hdfs / dvc-webhdfs /
dvc-oss 3 map it, and the fsspec ``WebHDFS`` the remote opens carries them.
"""

from __future__ import annotations

import json
import subprocess
from urllib.parse import urlsplit

import pytest
from fsspec.implementations.webhdfs import WebHDFS
from helpers import dvc_python

from prefect_dvc.config import RemoteConfig
from prefect_dvc.storage.kind_builders import hdfs_kwargs, oss_kwargs, webhdfs_kwargs
from prefect_dvc.storage.kinds import open_remote_location

# NOTE: the options every kind has (REMOTE_COMMON) and "verify" (DVC's own
# checksum switch) configure DVC, not the filesystem.
_NOT_FS = {"url", "verify", "jobs", "no_traverse", "checksum_jobs", "push", "version_aware"}
_NOT_FS |= {"worktree"}


@pytest.fixture(scope="module")
def dvc_options() -> dict[str, list[str]]:
    """The option names real DVC 3.67.1 accepts for hdfs, webhdfs and oss."""
    code = (
        "import json; from dvc.config_schema import REMOTE_SCHEMAS as S;"
        "print(json.dumps({k: sorted(str(o) for o in S[k]) for k in ('hdfs','webhdfs','oss')}))"
    )
    done = subprocess.run(
        [dvc_python(), "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return json.loads(done.stdout)


SAMPLES = {
    "user": "alice",
    "kerb_ticket": "krb5cc_prefect_dvc_test",
    "replication": "2",
    "kerberos": "true",
    "kerberos_principal": "dvc@REALM",
    "proxy_to": "bob",
    "ssl_verify": "false",
    "token": "tok-1234",
    "use_https": "true",
    "password": "pw-5678",
    "data_proxy_target": "https://gateway:9871/webhdfs/v1",
    "oss_key_id": "id-1234",
    "oss_key_secret": "secret-5678",
    "oss_endpoint": "oss-cn-hangzhou.aliyuncs.com",
}

BUILT = {
    "hdfs": lambda opts: hdfs_kwargs(urlsplit("hdfs://nn:8020/p"), opts),
    "webhdfs": lambda opts: webhdfs_kwargs(urlsplit("webhdfs://nn:9870/p"), opts),
    "oss": lambda opts: oss_kwargs(opts),
}


@pytest.mark.parametrize("kind", list(BUILT))
def test_every_dvc_option_reaches_the_filesystem(
    kind: str, dvc_options: dict[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OSS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("OSS_ACCESS_KEY_SECRET", raising=False)
    wanted = set(dvc_options[kind]) - _NOT_FS
    assert wanted, dvc_options
    plain = BUILT[kind]({})
    for option in sorted(wanted):
        assert option in SAMPLES, f"no sample for DVC's {kind} option {option!r}"
        assert BUILT[kind]({option: SAMPLES[option]}) != plain, f"{kind}: {option} is dropped"


def test_webhdfs_maps_as_dvc_webhdfs() -> None:
    split = urlsplit("webhdfs://carol@nn:9870/data")
    opts = {"kerberos_principal": "dvc@REALM", "data_proxy_target": "http://gw:1/webhdfs/v1"}
    assert webhdfs_kwargs(split, {**opts, "kerberos": "true"}) == {
        "host": "nn",
        "port": 9870,
        "user": "carol",
        "kerb_kwargs": {"principal": "dvc@REALM"},
        "kerberos": True,
        "use_https": False,
        "data_proxy": {"http://nn:9870/webhdfs/v1": "http://gw:1/webhdfs/v1"},
    }


def test_the_opened_webhdfs_filesystem_carries_the_options() -> None:
    opts = (
        ("use_https", "true"),
        ("ssl_verify", "false"),
        ("token", "tok-1234"),
        ("data_proxy_target", "https://gw:9871/webhdfs/v1"),
    )
    location = open_remote_location(RemoteConfig("h", "webhdfs://nn:9870/store", opts))
    fs = location.fs
    assert isinstance(fs, WebHDFS) and location.root == "/store"
    assert fs.url == "https://nn:9870/webhdfs/v1"
    assert fs.pars == {"delegation": "tok-1234"}
    assert fs.session.verify is False
    assert fs._apply_proxy("https://nn:9870/webhdfs/v1/x") == "https://gw:9871/webhdfs/v1/x"
    assert "tok-1234" in location.secrets


def test_hdfs_and_oss_map_as_dvcs_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    assert hdfs_kwargs(urlsplit("hdfs://bob@nn:8020/p"), {"replication": "2"}) == {
        "host": "nn",
        "port": 8020,
        "user": "bob",
        "replication": 2,
    }
    assert hdfs_kwargs(urlsplit("hdfs:///p"), {}) == {"host": "default", "port": 0}
    monkeypatch.setenv("OSS_ACCESS_KEY_ID", "env-id")
    monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", "env-secret")
    assert oss_kwargs({"oss_endpoint": "e"}) == {
        "key": "env-id",
        "secret": "env-secret",
        "endpoint": "e",
    }
    assert oss_kwargs({"oss_key_id": "i", "oss_key_secret": "s"})["key"] == "i"
