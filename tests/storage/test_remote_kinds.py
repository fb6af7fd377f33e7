"""Every DVC remote kind: its options (as DVC accepts them), their fsspec mapping, refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import dvc_python, free_port, gen, git, run_dvc

from prefect_dvc import config
from prefect_dvc.config import RemoteConfig
from prefect_dvc.config_schema import REMOTE_SCHEMAS
from prefect_dvc.errors import ConfigError, PrefectDvcError, RemoteError
from prefect_dvc.storage.kinds import KINDS, open_remote_location
from prefect_dvc.storage.remotes import open_remote

CLI = str(Path(sys.executable).with_name("prefect-dvc"))


def test_each_kind_accepts_exactly_dvcs_options() -> None:
    dump = (
        "import json; from dvc.config_schema import REMOTE_SCHEMAS as S;"
        "print(json.dumps({k: sorted(str(x) for x in v) for k, v in S.items() if k != 'remote'}))"
    )
    theirs = json.loads(subprocess.check_output([dvc_python(), "-c", dump], text=True))
    ours = {k: sorted(v) for k, v in REMOTE_SCHEMAS.items() if k not in ("memory", "remote")}
    assert ours == theirs
    # NOTE: every kind DVC has is one we open (or refuse in one line: gdrive).
    assert {k for k in theirs if k} <= set(KINDS)


# (url, key, value): hostile options, each judged by real DVC first.
MODIFY_CASES = [
    ("gs://b/p", "region", "eu"),
    ("azure://c/p", "endpointurl", "http://x"),
    ("ssh://h/p", "port", "notaport"),
    ("webdavs://h/p", "method", "PUT"),
    ("https://h/p", "auth", "Digest"),
    ("s3://b/p", "cache_regions", "true"),
    ("hdfs://u@h/p", "replication", "3"),
    ("remote://other/sub", "anything", "x"),
]


@pytest.mark.dvc_interop
def test_remote_modify_verdicts_match_dvc(tmp_path: Path) -> None:
    theirs, ours = tmp_path / "dvc", tmp_path / "ours"
    for root in (theirs, ours):
        root.mkdir()
        git(root, "init", "-q")
    assert run_dvc(theirs, "init", "-q").returncode == 0
    gen(ours, {".dvc/config": ""})
    for index, (url, key, value) in enumerate(MODIFY_CASES):
        name = f"r{index}"
        assert run_dvc(theirs, "remote", "add", name, url).returncode == 0
        config.add_remote(ours, name, url)
        verdict = run_dvc(theirs, "remote", "modify", name, key, value).returncode == 0
        before = [(ours / ".dvc" / f).read_bytes() for f in ("config",)]
        try:
            config.modify_remote(ours, name, key, value)
        except ConfigError as exc:
            assert not verdict, (url, key, value, exc.msg)
            assert "\n" not in str(exc)
            assert [(ours / ".dvc" / f).read_bytes() for f in ("config",)] == before
        else:
            assert verdict, (url, key, value)


def _remote(url: str, **options: str) -> RemoteConfig:
    return RemoteConfig("r", url, tuple(options.items()))


@pytest.mark.parametrize(
    ("url", "extra"), [("hdfs://namenode/p", "hdfs"), ("oss://bucket/p", "oss")]
)
def test_a_missing_package_names_the_extra(url: str, extra: str) -> None:
    with pytest.raises(RemoteError) as caught:
        open_remote_location(_remote(url))
    text = str(caught.value)
    assert f"pip install 'prefect-dvc[{extra}]'" in text and "\n" not in text


@pytest.mark.parametrize("key", ["version_aware", "worktree"])
def test_cloud_versioning_is_refused_in_one_line(key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        open_remote(_remote("s3://bucket/p", **{key: "true"}))
    assert key in str(caught.value) and "\n" not in str(caught.value)
    # NOTE: false is DVC's default and means the ordinary content-addressed layout.
    assert open_remote(_remote("memory://kinds-vaware", **{key: "false"})) is not None


@pytest.mark.parametrize(
    ("url", "options", "words"),
    [
        ("gdrive://root/p", {}, "gdrive remotes are not supported"),
        ("remote://other/sub", {}, "'remote://' remotes are not supported"),
        ("azure://c/p", {}, "requires either account_name or connection_string"),
        ("https://h/p", {"auth": "basic", "user": "u"}, "require both 'user' and 'password'"),
        ("https://h/p", {"auth": "custom", "password": "pw12"}, "'custom_auth_header'"),
        ("https://h/p", {"auth": "digest"}, "'digest' authentication is not supported"),
        ("https://h/p", {"method": "PATCH"}, "neither POST nor PUT"),
        ("ssh://h/p", {"ask_password": "true"}, "no terminal"),
    ],
)
def test_what_a_plugin_refuses_is_one_line(url: str, options: dict, words: str) -> None:
    with pytest.raises(PrefectDvcError) as caught:
        open_remote_location(_remote(url, **options))
    text = str(caught.value)
    assert words in text and "\n" not in text
    assert "pw12" not in text


def test_options_map_to_fsspec_arguments() -> None:
    http = open_remote_location(
        _remote(
            "https://host/store",
            auth="basic",
            user="me",
            password="pw-secret",
            method="PUT",
            connect_timeout="2.5",
            read_timeout="7",
        )
    )
    client = http.fs.client_kwargs
    assert client["headers"] == {"Authorization": "Basic bWU6cHctc2VjcmV0"}  # me:pw-secret
    assert (client["timeout"].connect, client["timeout"].sock_read) == (2.5, 7.0)
    assert http.fs.upload_method == "put" and http.root == "https://host/store"
    dav = open_remote_location(
        _remote("webdavs://me@host:8443/dav/x", password="pw2x", timeout="9")
    )
    assert str(dav.fs.client.base_url).rstrip("/") == "https://host:8443"
    assert dav.root == "/dav/x" and dav.fs.client.http.timeout.read == 9
    azure = open_remote_location(
        _remote("azure://container/p", account_name="acct", account_key="a2V5", timeout="3")
    )
    assert (azure.fs.account_name, azure.root) == ("acct", "container/p")
    gs = open_remote_location(
        _remote("gs://bucket/p", projectname="proj", endpointurl="http://127.0.0.1:1")
    )
    assert (gs.fs.project, gs.root) == ("proj", "bucket/p")
    assert gs.fs._endpoint == "http://127.0.0.1:1"


def test_an_unreachable_ssh_remote_is_one_line_without_its_password() -> None:
    port = free_port()  # NOTE: nothing listens there: the connection is refused
    with pytest.raises(RemoteError) as caught:
        open_remote(_remote(f"ssh://me:pw-in-url@127.0.0.1:{port}/p", password="opt-pass-1"))
    text = str(caught.value)
    assert "\n" not in text and "pw-in-url" not in text and "opt-pass-1" not in text


def test_a_credential_goes_to_config_local_with_a_warning(git_repo: Path) -> None:
    config.add_remote(git_repo, "dav", "webdav://host/p")
    proc = subprocess.run(
        [CLI, "remote", "modify", "dav", "password", "hunter2-secret"],
        cwd=git_repo,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "hunter2-secret" not in proc.stdout + proc.stderr
    assert "config.local" in proc.stderr and "--local" in proc.stderr
    assert "hunter2-secret" in (git_repo / ".dvc" / "config.local").read_text()
    assert "hunter2-secret" not in (git_repo / ".dvc" / "config").read_text()
    quiet = subprocess.run(
        [CLI, "remote", "modify", "--local", "dav", "token", "tok-secret-9"],
        cwd=git_repo,
        capture_output=True,
        text=True,
    )
    assert quiet.returncode == 0 and "WARNING" not in quiet.stderr


def test_unsetting_a_credential_removes_it_from_both_files(git_repo: Path) -> None:
    gen(git_repo, {".dvc/config": "['remote \"s\"']\n    url = s3://b/p\n    password = x\n"})
    with pytest.raises(ConfigError):
        config.load_config(git_repo)  # NOTE: s3 has no 'password': refused as DVC does
    gen(
        git_repo,
        {".dvc/config": "['remote \"w\"']\n    url = webdav://h/p\n    password = old-pass\n"},
    )
    config.modify_remote(git_repo, "w", "password", "new-pass")
    assert config.load_config(git_repo).remote("w").option("password") == "new-pass"
    config.modify_remote(git_repo, "w", "password", unset=True)
    assert config.load_config(git_repo).remote("w").option("password") is None
    assert "old-pass" not in (git_repo / ".dvc" / "config").read_text()


def test_an_http_server_that_refuses_is_not_a_missing_object() -> None:
    port = free_port()  # NOTE: nothing listens there
    remote = open_remote(_remote(f"http://me:pw-in-url@127.0.0.1:{port}/store"))
    with pytest.raises(RemoteError) as caught:
        remote.objects.existing(["a" * 32])
    text = str(caught.value)
    assert "does not answer" in text and "\n" not in text and "pw-in-url" not in text


def test_an_endpoint_that_never_answers_is_given_up_on_every_kind() -> None:
    import socket
    from concurrent.futures import ThreadPoolExecutor

    from prefect_dvc.storage.location import probe

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # NOTE: accepts connections, never answers
        port = silent.getsockname()[1]
        blob = f"http://127.0.0.1:{port}/devstoreaccount1"
        remotes = [
            _remote("gs://b/p", endpointurl=f"http://127.0.0.1:{port}", projectname="p"),
            _remote(
                "azure://c/p",
                connection_string="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
                f"AccountKey=a2V5;BlobEndpoint={blob};",
            ),
            _remote(f"webdav://127.0.0.1:{port}/p", password="dav-pass-1", user="me"),
            _remote(f"http://127.0.0.1:{port}/p"),
            _remote(f"ssh://me@127.0.0.1:{port}/p", password="ssh-pass-1"),
            _remote(f"webhdfs://127.0.0.1:{port}/p", password="hdfs-pass-1", user="me"),
        ]

        def attempt(rc: RemoteConfig) -> str:
            try:
                probe(open_remote(rc).objects.location)
            except RemoteError as exc:
                return str(exc)
            return "answered"

        with ThreadPoolExecutor(len(remotes)) as pool:
            answers = list(pool.map(attempt, remotes))
    for rc, text in zip(remotes, answers):
        assert text != "answered" and "\n" not in text, (rc.url, text)
        assert rc.safe_url in text and "pass-1" not in text, text


def test_a_required_remote_that_cannot_be_opened_fails_every_use(tmp_path: Path) -> None:
    from prefect_dvc.storage.remote_gate import RemoteGate

    rc = _remote("hdfs://namenode/p")  # NOTE: pyarrow is not installed: opening fails
    required = RemoteGate(None, name="r", url=rc.url, opener=lambda: open_remote(rc))
    for _ in range(2):
        with pytest.raises(RemoteError, match=r"prefect-dvc\[hdfs\]"):
            required.get()
    consulted = RemoteGate(
        None, name="r", url=rc.url, opener=lambda: open_remote(rc), consult=tmp_path
    )
    assert consulted.get() is None and consulted.get() is None
