"""``import-url``: the ``.dvc`` file, cache and workspace, each compared with real DVC 3.67.1."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import s3fs
from helpers import dvc_python, gen, git, run_dvc

from prefect_dvc.errors import ImportSourceError, PipelineError, RemoteError, UnsafePathError
from prefect_dvc.imports.stage_md5 import stage_md5
from prefect_dvc.imports.url import ImportUrlOptions, import_url

pytestmark = pytest.mark.dvc_interop


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A folder served by a real ``http.server`` on a free loopback port: (folder, base URL)."""
    folder = tmp_path_factory.mktemp("served")
    (folder / "h.csv").write_bytes(b"a,b\n1,2\n")
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(folder))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _new_repo(path: Path) -> Path:
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    assert run_dvc(path, "init", "-q").returncode == 0
    return path


def _twin_of(repo: Path, path: Path) -> Path:
    """A copy of the fresh repository ``repo`` (one ``dvc init`` serves both twins)."""
    shutil.copytree(repo, path, symlinks=True)
    return path


def _cases(base: Path, url: str) -> list[tuple[str, list[str], list[str]]]:
    """(name, our arguments, DVC's arguments): the same import, spelled for each tool."""
    src = base / "src"
    return [
        ("relative file", ["../src/a.txt"], ["../src/a.txt"]),
        ("absolute folder", [str(src / "d"), "dd"], [str(src / "d"), "dd"]),
        ("file:// URL", [f"file://{src}/a.txt", "fu.txt"], [f"{src}/a.txt", "fu.txt"]),
        ("executable", ["../src/run.sh"], ["../src/run.sh"]),
        ("inside the repo", ["inrepo/f", "sub/g"], ["inrepo/f", "sub/g"]),
        ("into a folder", [f"{src}/a.txt", "sub"], [f"{src}/a.txt", "sub"]),
        ("no exec", ["--no-exec", "../src/a.txt", "ne.txt"],
         ["--no-exec", "../src/a.txt", "ne.txt"]),
        ("no download", ["--no-download", "../src/a.txt", "nd.txt"],
         ["--no-download", "../src/a.txt", "nd.txt"]),
        ("http", [f"{url}/h.csv"], [f"{url}/h.csv"]),
    ]  # fmt: skip


def _ours(root: Path, args: list[str]) -> None:
    flags = {a for a in args if a.startswith("--")}
    rest = [a for a in args if not a.startswith("--")]
    options = ImportUrlOptions(no_exec="--no-exec" in flags, no_download="--no-download" in flags)
    import_url(root, rest[0], rest[1] if len(rest) > 1 else None, options, cwd=root)


@pytest.fixture(scope="module")
def twin(
    tmp_path_factory: pytest.TempPathFactory, served: tuple[Path, str]
) -> tuple[Path, Path, list[tuple[str, list[str], list[str]]]]:
    """Our repository and DVC's, after the same imports: (ours, theirs, cases)."""
    base = tmp_path_factory.mktemp("twin")
    gen(base / "src", {"a.txt": "hello\n", "d/1": "x", "d/sub/2": "yy", "run.sh": "echo hi\n"})
    os.chmod(base / "src" / "run.sh", 0o755)
    theirs = _new_repo(base / "theirs")
    ours = _twin_of(theirs, base / "ours")
    cases = _cases(base, served[1])
    for root in (ours, theirs):
        gen(root, {"inrepo/f": "inner\n", "sub/keep": ""})
    for _, our_args, _ in cases:
        _ours(ours, our_args)
    _dvc_imports(theirs, [c[2] for c in cases])
    return ours, theirs, cases


_DVC_SCRIPT = """
import json, sys
from dvc.repo import Repo
repo = Repo(".")
for args in json.loads(sys.argv[1]):
    flags = {a for a in args if a.startswith("--")}
    rest = [a for a in args if not a.startswith("--")]
    repo.imp_url(rest[0], rest[1] if len(rest) > 1 else None,
                 no_exec="--no-exec" in flags, no_download="--no-download" in flags)
"""


def _dvc_imports(root: Path, calls: list[list[str]]) -> None:
    """Real DVC's ``import-url`` for each call, in one DVC process (its start-up costs ~1.5 s)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    done = subprocess.run(
        [dvc_python(), "-c", _DVC_SCRIPT, json.dumps(calls)],
        cwd=root, capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def _tree(root: Path) -> dict[str, bytes]:
    """Every file of the workspace (not .git, not .dvc/) with its bytes."""
    found = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel.split("/")[0] in (".git", ".dvc") or not path.is_file():
            continue
        found[rel] = path.read_bytes()
    return found


@pytest.mark.parametrize(
    "case",
    ["relative file", "absolute folder", "file:// URL", "executable", "inside the repo",
     "into a folder", "no exec", "no download", "http"],
)  # fmt: skip
def test_dvc_file_is_byte_for_byte_dvcs(twin: tuple[Path, Path, list], case: str) -> None:
    ours, theirs, cases = twin
    our_args = next(c[1] for c in cases if c[0] == case)
    rest = [a for a in our_args if not a.startswith("--")]
    name = os.path.basename(rest[0]) if len(rest) == 1 else rest[1]
    dvcfile = f"sub/{os.path.basename(rest[0])}.dvc" if name == "sub" else f"{name}.dvc"
    assert (ours / dvcfile).read_bytes() == (theirs / dvcfile).read_bytes()


def test_workspace_gitignores_and_cache_match_dvc(twin: tuple[Path, Path, list]) -> None:
    ours, theirs, _ = twin
    assert _tree(ours) == _tree(theirs)
    # NOTE: DVC's dep records the source's isexec, its out never does (a plain copy)
    assert not os.access(ours / "run.sh", os.X_OK)
    ours_cache, theirs_cache = _objects(ours), _objects(theirs)
    assert ours_cache == theirs_cache and len(ours_cache) >= 6


def _objects(root: Path) -> dict[str, bytes]:
    files = (root / ".dvc/cache/files").rglob("*")
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in files if p.is_file()}


def test_real_dvc_reads_our_imports_as_up_to_date(twin: tuple[Path, Path, list]) -> None:
    ours, _, _ = twin
    done = run_dvc(ours, "status", "a.txt.dvc", "dd.dvc", "fu.txt.dvc", "h.csv.dvc", "sub/g.dvc")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Data and pipelines are up to date."


def test_stage_md5_is_dvcs_compute_md5(twin: tuple[Path, Path, list]) -> None:
    """Our md5 equals DVC's for every file DVC wrote (its own compute_md5 ran on them)."""
    from prefect_dvc.yamlio import load_yaml

    _, theirs, _ = twin
    checked = 0
    for dvcfile in sorted(p for p in theirs.rglob("*.dvc") if p.is_file()):
        data = load_yaml(dvcfile)
        if "md5" in data:
            assert stage_md5(data) == data["md5"], dvcfile.name
            checked += 1
    assert checked >= 7


def test_s3_object_records_etag_and_lands_in_cache(
    git_repo: Path, s3_bucket: str, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # NOTE: real DVC here has no dvc-s3; the entry is DVC's Output.dumpd for an
    # S3 dep: etag (the ETag without quotes), size, hash, path.
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    fs = s3fs.S3FileSystem(
        key="testing", secret="testing", client_kwargs={"endpoint_url": s3_endpoint}
    )
    body = b"a,b\n1,2\n"
    fs.pipe(f"{s3_bucket}/data/f.csv", body)
    s3fs.S3FileSystem.clear_instance_cache()
    md5 = hashlib.md5(body).hexdigest()
    url = f"s3://{s3_bucket}/data/f.csv"

    import_url(git_repo, url, None, ImportUrlOptions(), cwd=git_repo)

    dep = {"etag": md5, "size": 8, "hash": "md5", "path": url}
    out = {"md5": md5, "size": 8, "hash": "md5", "path": "f.csv"}
    expected_md5 = stage_md5({"frozen": True, "deps": [dep], "outs": [out]})
    assert (git_repo / "f.csv.dvc").read_text() == (
        f"md5: {expected_md5}\nfrozen: true\ndeps:\n- etag: {md5}\n  size: 8\n  hash: md5\n"
        f"  path: {url}\nouts:\n- md5: {md5}\n  size: 8\n  hash: md5\n  path: f.csv\n"
    )
    assert (git_repo / "f.csv").read_bytes() == body
    assert (git_repo / ".dvc/cache/files/md5" / md5[:2] / md5[2:]).read_bytes() == body
    assert (git_repo / ".gitignore").read_text() == "/f.csv\n"


def _snapshot(root: Path) -> dict[str, bytes]:
    """Workspace, .dvc/ and the cache, less .git and .dvc/tmp (locks, the state DB)."""
    return {
        rel: p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
        and not (rel := p.relative_to(root).as_posix()).startswith((".git/", ".dvc/tmp/"))
    }


@pytest.mark.parametrize(
    ("url", "error", "said"),
    [
        ("foo://host/x.csv", ImportSourceError, "unsupported URL type 'foo://'"),
        ("file://otherhost/x.csv", ImportSourceError, "must name a local path"),
        ("../nowhere/x.csv", ImportSourceError, "dependency '../nowhere/x.csv' does not exist"),
        ("{http}/missing.csv", ImportSourceError, "does not exist"),
        ("http://127.0.0.1:9/x.csv", RemoteError, "cannot read dependency"),
        ("s3:///x.csv", ImportSourceError, "names no file"),
        ("", ImportSourceError, "no URL given"),
        ("../other/data.dvc", ImportSourceError, "DVC file '../other/data.dvc' cannot be a dep"),
        ("sub/dvc.yaml", ImportSourceError, "DVC file 'sub/dvc.yaml' cannot be a dependency"),
    ],
)
def test_bad_source_is_one_line_naming_it_and_writes_nothing(
    git_repo: Path, served: tuple[Path, str], url: str, error: type, said: str
) -> None:
    url = url.replace("{http}", served[1])
    before = _snapshot(git_repo)
    with pytest.raises(error) as caught:
        import_url(git_repo, url, None, ImportUrlOptions(), cwd=git_repo)
    text = str(caught.value)
    assert said in text and "\n" not in text
    assert url in text
    assert _snapshot(git_repo) == before


@pytest.mark.parametrize(
    ("out", "error", "said"),
    [
        (".dvc/x", UnsafePathError, "inside '.dvc'"),
        (".git/x", UnsafePathError, "inside '.git'"),
        ("x.dvc", UnsafePathError, "DVC or Git file"),
        ("../outside.txt", UnsafePathError, "outside the repository"),
        ("present.txt", PipelineError, "already exists"),
        ("tracked/inner.txt", PipelineError, "overlaps the output 'tracked'"),
        ("in-git.txt", PipelineError, "already tracked by Git"),
    ],
)
def test_bad_out_is_refused_before_anything_is_written(
    git_repo: Path, tmp_path: Path, out: str, error: type, said: str
) -> None:
    gen(tmp_path, {"src.txt": "data\n"})
    gen(git_repo, {"in-git.txt": "committed\n"})
    git(git_repo, "add", "in-git.txt")
    git(git_repo, "commit", "-q", "-m", "in git")
    gen(
        git_repo,
        {
            "present.txt": "mine\n",
            "tracked.dvc": "outs:\n- md5: 0123456789abcdef0123456789abcdef.dir\n"
            "  hash: md5\n  path: tracked\n",
        },
    )
    before = _snapshot(git_repo)
    force = out == "in-git.txt"  # NOTE: --force must not overwrite a file Git tracks either
    with pytest.raises(error) as caught:
        options = ImportUrlOptions(force=force)
        import_url(git_repo, str(tmp_path / "src.txt"), out, options, cwd=git_repo)
    assert said in str(caught.value) and "\n" not in str(caught.value)
    assert _snapshot(git_repo) == before
    assert not (tmp_path / "outside.txt").exists()


def test_force_replaces_an_existing_out(git_repo: Path, tmp_path: Path) -> None:
    gen(tmp_path, {"src.txt": "fresh\n"})
    gen(git_repo, {"present.txt": "mine\n"})
    import_url(
        git_repo,
        str(tmp_path / "src.txt"),
        "present.txt",
        ImportUrlOptions(force=True),
        cwd=git_repo,
    )
    assert (git_repo / "present.txt").read_text() == "fresh\n"
    assert "path: present.txt" in (git_repo / "present.txt.dvc").read_text()


def test_source_overlapping_the_out_is_refused(git_repo: Path) -> None:
    gen(git_repo, {"data/f.txt": "x\n"})
    before = _snapshot(git_repo)
    with pytest.raises(ImportSourceError, match="overlap"):
        import_url(git_repo, "data", "data", ImportUrlOptions(force=True), cwd=git_repo)
    assert _snapshot(git_repo) == before
    shutil.rmtree(git_repo / "data")


@pytest.mark.parametrize("source", [".git/config", ".dvc/config", "."])
def test_source_inside_git_or_dvc_or_the_root_is_refused(git_repo: Path, source: str) -> None:
    before = _snapshot(git_repo)
    with pytest.raises(ImportSourceError) as caught:
        import_url(git_repo, source, "copy", ImportUrlOptions(), cwd=git_repo)
    assert f"'{source}'" in str(caught.value)
    assert _snapshot(git_repo) == before


def test_dangling_symlink_in_the_source_is_named(git_repo: Path, tmp_path: Path) -> None:
    gen(tmp_path, {"src/ok.txt": "ok\n"})
    (tmp_path / "src" / "gone").symlink_to(tmp_path / "nowhere")
    before = _snapshot(git_repo)
    with pytest.raises(ImportSourceError, match="dangling symlink"):
        import_url(git_repo, str(tmp_path / "src"), "data", ImportUrlOptions(), cwd=git_repo)
    assert _snapshot(git_repo) == before


def test_s3_missing_key_and_prefix_are_one_line(
    git_repo: Path, s3_bucket: str, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    fs = s3fs.S3FileSystem(
        key="testing", secret="testing", client_kwargs={"endpoint_url": s3_endpoint}
    )
    fs.pipe(f"{s3_bucket}/folder/f.csv", b"x\n")
    s3fs.S3FileSystem.clear_instance_cache()
    before = _snapshot(git_repo)
    cases = [
        (f"s3://{s3_bucket}/nope.csv", ImportSourceError, "does not exist"),
        (f"s3://{s3_bucket}/folder", PipelineError, "is a directory"),
    ]
    for url, error, said in cases:
        with pytest.raises(error) as caught:
            import_url(git_repo, url, None, ImportUrlOptions(), cwd=git_repo)
        assert said in str(caught.value) and url in str(caught.value)
        assert "\n" not in str(caught.value)
        assert _snapshot(git_repo) == before
