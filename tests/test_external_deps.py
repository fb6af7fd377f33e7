"""DVC 3 external dependencies and outputs, each compared with real DVC 3.67.1."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import s3fs
import yaml
from helpers import free_port, gen, run_dvc

from prefect_dvc.errors import PipelineError, RemoteError, StageError
from prefect_dvc.execution import RunOptions, open_executor
from prefect_dvc.external import hash_url
from prefect_dvc.translators import load_pipeline


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder; with ``etag`` set, sends an ETag made from the file's bytes."""

    etag = False

    def end_headers(self) -> None:
        if self.etag:
            path = Path(self.translate_path(self.path))
            if path.is_file():
                self.send_header("ETag", f'"{hashlib.md5(path.read_bytes()).hexdigest()}"')
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(params=[False, True], ids=["last-modified", "etag"])
def http_dir(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Path, str]]:
    """A folder served by a real ``http.server`` on 127.0.0.1; yields (folder, base URL)."""
    folder = tmp_path / "served"
    folder.mkdir()
    handler = type("Handler", (_Handler,), {"etag": request.param})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(folder))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _ours(repo: Path, *stages: str, use_run_cache: bool = True) -> None:
    executor = open_executor(repo, load_pipeline(repo))
    try:
        for name in stages:
            executor.run(name, RunOptions(use_run_cache=use_run_cache), lambda _: None)
    finally:
        executor.close()


def _changes(repo: Path, stage: str) -> list[str]:
    executor = open_executor(repo, load_pipeline(repo))
    try:
        return [str(c) for c in executor.status(stage).changes]
    finally:
        executor.close()


def _same_lock_as_dvc(repo: Path, *stages: str) -> bytes:
    """Run ``stages`` with real DVC, then with ours from scratch; both lock files, equal."""
    done = run_dvc(repo, "repro", "-q", *stages)
    assert done.returncode == 0, done.stderr
    theirs = (repo / "dvc.lock").read_bytes()
    (repo / "dvc.lock").unlink()
    _ours(repo, *stages, use_run_cache=False)
    ours = (repo / "dvc.lock").read_bytes()
    assert ours == theirs
    return ours


def test_outside_file_and_dir_deps_match_dvc(tmp_path: Path, git_repo: Path) -> None:
    gen(tmp_path, {"outside.txt": "hello\n", "abs.txt": "abs\n", "odir/a": "a\n", "odir/b": "b\n"})
    gen(tmp_path, {"odir/x.tmp": "no .dvcignore applies outside the repository\n"})
    gen(
        git_repo,
        {
            ".dvcignore": "*.tmp\n",
            "dvc.yaml": "stages:\n  s:\n    cmd: echo s > out.txt\n    deps:\n"
            f"    - ../outside.txt\n    - {tmp_path / 'abs.txt'}\n    - ../odir\n"
            "    outs: [out.txt]\n",
        },
    )
    lock = yaml.safe_load(_same_lock_as_dvc(git_repo, "s"))
    paths = [d["path"] for d in lock["stages"]["s"]["deps"]]
    assert paths == ["../odir", "../outside.txt", str(tmp_path / "abs.txt")]
    assert lock["stages"]["s"]["deps"][0]["nfiles"] == 3
    assert _changes(git_repo, "s") == []

    (tmp_path / "abs.txt").write_text("changed\n")
    (tmp_path / "odir/c").write_text("c\n")
    # NOTE: DVC names deps outside the repository by their absolute path in status.
    assert sorted(_changes(git_repo, "s")) == [
        f"dep '{tmp_path / 'abs.txt'}' modified",
        f"dep '{tmp_path / 'odir'}' modified",
    ]
    dvc = run_dvc(git_repo, "status", "--json")
    assert yaml.safe_load(dvc.stdout) == {
        "s": [{"changed deps": {str(tmp_path / p): "modified" for p in ("abs.txt", "odir")}}]
    }
    (tmp_path / "outside.txt").unlink()
    assert f"dep '{tmp_path / 'outside.txt'}' deleted" in _changes(git_repo, "s")


def test_outside_dep_run_cache_key_is_dvcs(tmp_path: Path, git_repo: Path) -> None:
    gen(tmp_path, {"outside.txt": "hello\n"})
    gen(
        git_repo,
        {
            "dvc.yaml": "stages:\n  s:\n    cmd: echo s > out.txt\n"
            "    deps: [../outside.txt]\n    outs: [out.txt]\n"
        },
    )
    assert run_dvc(git_repo, "repro", "-q").returncode == 0
    runs = git_repo / ".dvc/cache/runs"
    theirs = sorted(p.relative_to(runs) for p in runs.glob("*/*"))
    assert len(theirs) == 1
    (git_repo / "dvc.lock").unlink()
    (git_repo / "out.txt").unlink()
    _ours(git_repo, "s")  # restored from DVC's run-cache entry: same key
    assert (git_repo / "out.txt").read_text() == "s\n"
    assert sorted(p.relative_to(runs) for p in runs.glob("*/*")) == theirs


def test_http_dep_matches_dvc_and_detects_change(
    git_repo: Path, http_dir: tuple[Path, str]
) -> None:
    folder, base = http_dir
    gen(folder, {"f.txt": "served\n"})
    url = f"{base}/f.txt"
    gen(
        git_repo,
        {
            "dvc.yaml": f"stages:\n  h:\n    cmd: echo h > out.txt\n    deps: [{url}]\n"
            "    outs: [out.txt]\n"
        },
    )
    lock = yaml.safe_load(_same_lock_as_dvc(git_repo, "h"))
    dep = lock["stages"]["h"]["deps"][0]
    assert list(dep) == ["path", "hash", "checksum", "size"]
    assert dep["size"] == 7
    assert not (git_repo / ".dvc/cache/runs").exists()  # a URL dep: no run-cache entry
    assert _changes(git_repo, "h") == []

    (folder / "f.txt").write_text("served, now longer\n")
    assert _changes(git_repo, "h") == [f"dep '{url}' modified"]
    dvc = run_dvc(git_repo, "status", "--json")
    assert yaml.safe_load(dvc.stdout) == {"h": [{"changed deps": {url: "modified"}}]}

    (folder / "f.txt").unlink()
    assert _changes(git_repo, "h") == [f"dep '{url}' deleted"]


def test_missing_url_dep_is_one_line_and_runs_nothing(
    git_repo: Path, http_dir: tuple[Path, str]
) -> None:
    url = f"{http_dir[1]}/gone.txt"
    assert hash_url(url, url) is None
    gen(
        git_repo,
        {
            "dvc.yaml": f"stages:\n  h:\n    cmd: echo h > out.txt\n    deps: [{url}]\n"
            "    outs: [out.txt]\n"
        },
    )
    with pytest.raises(StageError) as caught:
        _ours(git_repo, "h")
    assert str(caught.value).startswith(f"dvc.yaml:2: stage 'h': dependency '{url}' does not exist")
    assert not (git_repo / "out.txt").exists()
    assert not (git_repo / "dvc.lock").exists()


def test_unreachable_server_is_a_remote_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/f.txt"
    with pytest.raises(RemoteError, match=f"cannot read dependency '{url}'") as caught:
        hash_url(url, url)
    assert "\n" not in str(caught.value)


def test_server_error_is_a_remote_error(http_dir: tuple[Path, str]) -> None:
    folder, base = http_dir
    gen(folder, {"f.txt": "x"})
    url = f"{base.replace('http', 'https')}/f.txt"  # TLS to a plain-HTTP server fails
    with pytest.raises(RemoteError, match=f"cannot read dependency '{url}'") as caught:
        hash_url(url, url)
    assert "\n" not in str(caught.value)


def test_s3_dep_records_etag_and_detects_change(
    git_repo: Path, s3_bucket: str, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # NOTE: real DVC here has no dvc-s3, so the format is asserted as DVC writes
    # it (dvc_data Meta.from_info: ETag without quotes; moto's ETag is the md5).
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    fs = s3fs.S3FileSystem(
        key="testing", secret="testing", client_kwargs={"endpoint_url": s3_endpoint}
    )
    fs.pipe(f"{s3_bucket}/data/f.csv", b"a,b\n1,2\n")
    url = f"s3://{s3_bucket}/data/f.csv"
    gen(
        git_repo,
        {
            "dvc.yaml": f"stages:\n  s:\n    cmd: echo s > out.txt\n    deps: [{url}]\n"
            "    outs: [out.txt]\n"
        },
    )
    _ours(git_repo, "s")
    dep = yaml.safe_load((git_repo / "dvc.lock").read_text())["stages"]["s"]["deps"][0]
    assert dep == {
        "path": url,
        "hash": "md5",
        "etag": hashlib.md5(b"a,b\n1,2\n").hexdigest(),
        "size": 8,
    }
    assert _changes(git_repo, "s") == []
    fs.pipe(f"{s3_bucket}/data/f.csv", b"a,b\n1,3\n")
    assert _changes(git_repo, "s") == [f"dep '{url}' modified"]
    fs.rm(f"{s3_bucket}/data/f.csv")
    assert _changes(git_repo, "s") == [f"dep '{url}' deleted"]
    s3fs.S3FileSystem.clear_instance_cache()


def test_cached_external_out_is_refused_before_running(tmp_path: Path, git_repo: Path) -> None:
    dvc_yaml = (
        "stages:\n  c:\n    cmd: echo x > ../ext.txt\n    deps: [dep.txt]\n"
        "    outs:\n    - ../ext.txt\n"
    )
    gen(git_repo, {"dvc.yaml": dvc_yaml, "dep.txt": "d\n"})
    dvc = run_dvc(git_repo, "repro")
    assert dvc.returncode != 0
    assert "Saving cached external output" in dvc.stderr
    assert "is not supported since DVC 3.0" in dvc.stderr
    (tmp_path / "ext.txt").unlink()
    with pytest.raises(PipelineError) as caught:
        load_pipeline(git_repo)
    assert str(caught.value).startswith(
        "dvc.yaml:6: stage 'c': Saving cached external output ../ext.txt is not supported"
        " since DVC 3.0. See <https://dvc.org/doc/user-guide/upgrade> for more info."
    )
    assert not (tmp_path / "ext.txt").exists()


def test_uncached_external_out_is_hashed_and_never_deleted(tmp_path: Path, git_repo: Path) -> None:
    gen(
        git_repo,
        {
            "dvc.yaml": "stages:\n  o:\n    cmd: echo o > ../ext.txt\n    deps: [dep.txt]\n"
            "    outs:\n    - ../ext.txt:\n        cache: false\n",
            "dep.txt": "d\n",
        },
    )
    _same_lock_as_dvc(git_repo, "o")
    assert not (git_repo / ".dvc/cache/runs").exists()
    assert _changes(git_repo, "o") == []
    (tmp_path / "ext.txt").write_text("edited by the user\n")
    assert _changes(git_repo, "o") == [f"out '{tmp_path / 'ext.txt'}' modified"]
    dvc = run_dvc(git_repo, "status", "--json")
    assert yaml.safe_load(dvc.stdout) == {
        "o": [{"changed outs": {str(tmp_path / "ext.txt"): "modified"}}]
    }

    # NOTE: DVC deletes it before running; we never delete a file outside the repo.
    gen(git_repo, {"dvc.yaml": (git_repo / "dvc.yaml").read_text().replace(">", ">>")})
    _ours(git_repo, "o")
    assert (tmp_path / "ext.txt").read_text() == "edited by the user\no\n"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("deps: [gs://bucket/x]", "dvc.yaml:4: stage 's': 'gs://bucket/x' uses 'gs://'"),
        ("deps: ['file:///etc/hostname']", "uses 'file://', which prefect-dvc does not support"),
        (
            "outs: [{s3://b/out.txt: {cache: false}}]",
            "dvc.yaml:5: stage 's': output 's3://b/out.txt' is a URL",
        ),
    ],
)
def test_unsupported_external_paths_are_one_line_errors(
    git_repo: Path, entry: str, message: str
) -> None:
    gen(
        git_repo,
        {"dvc.yaml": f"stages:\n  s:\n    cmd: echo s\n    deps: [dep.txt]\n    {entry}\n"},
    )
    text = (git_repo / "dvc.yaml").read_text()
    if entry.startswith("deps"):
        gen(git_repo, {"dvc.yaml": text.replace("    deps: [dep.txt]\n", "")})
    with pytest.raises(PipelineError) as caught:
        load_pipeline(git_repo)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_absolute_paths_inside_the_repository_are_in_repo_paths(git_repo: Path) -> None:
    gen(
        git_repo,
        {
            "in.txt": "a\n",
            "dvc.yaml": "stages:\n  s:\n    cmd: echo s > o\n    wdir: sub\n"
            f"    deps: [{git_repo / 'in.txt'}]\n    outs: [{git_repo / 'sub/o'}]\n",
        },
    )
    (git_repo / "sub").mkdir()
    lock = yaml.safe_load(_same_lock_as_dvc(git_repo, "s"))
    assert [d["path"] for d in lock["stages"]["s"]["deps"]] == ["../in.txt"]
    assert [o["path"] for o in lock["stages"]["s"]["outs"]] == ["o"]
    stage = load_pipeline(git_repo).stages["s"]
    assert (stage.dep_repo_paths, stage.outs[0].repo_path) == (("in.txt",), "sub/o")


def test_s3_dep_on_versioned_bucket_records_version_id(
    s3_bucket: str, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    fs = s3fs.S3FileSystem(
        key="testing", secret="testing", client_kwargs={"endpoint_url": s3_endpoint}
    )
    fs.make_bucket_versioned(s3_bucket)
    fs.pipe(f"{s3_bucket}/f.csv", b"v1\n")
    url = f"s3://{s3_bucket}/f.csv"
    first = hash_url(url, url)
    fs.pipe(f"{s3_bucket}/f.csv", b"v2\n")
    second = hash_url(url, url)
    assert first is not None and second is not None
    assert list(first) == ["path", "hash", "etag", "size", "version_id"]
    assert first["etag"] == hashlib.md5(b"v1\n").hexdigest()
    assert first["version_id"] != second["version_id"]
    versioned = s3fs.S3FileSystem(
        key="testing",
        secret="testing",
        client_kwargs={"endpoint_url": s3_endpoint},
        version_aware=True,
        skip_instance_cache=True,
    )
    versions = {v["VersionId"] for v in versioned.object_version_info(url)}
    assert {first["version_id"], second["version_id"]} == versions
    s3fs.S3FileSystem.clear_instance_cache()


def test_exp_show_keeps_url_dep_paths() -> None:
    from prefect_dvc.experiments.collect import deps_and_outs

    url = "https://example.com/data/f.csv?x=1"
    dvcyaml = f"stages:\n  s:\n    cmd: c\n    wdir: sub\n    deps: ['{url}', ../a]\n".encode()
    lock = (
        "schema: '2.0'\nstages:\n  s:\n    cmd: c\n    deps:\n"
        f"    - path: {url}\n      hash: md5\n      checksum: '\"abc\"'\n      size: 3\n"
    ).encode()
    deps, _outs = deps_and_outs(dvcyaml, lock, [])
    assert deps == {
        "a": {"hash": None, "size": None, "nfiles": None},
        url: {"hash": '"abc"', "size": 3, "nfiles": None},
    }
