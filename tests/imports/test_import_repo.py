"""``import`` from a Git repository: the ``.dvc`` file and data, compared with real DVC 3.67.1."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import dvc_python, gen, git, run_dvc

from prefect_dvc.errors import ImportSourceError
from prefect_dvc.imports.repo import ImportOptions, import_repo

pytestmark = pytest.mark.dvc_interop


def _dvc(root: Path, *args: str) -> None:
    done = run_dvc(root, *args)
    assert done.returncode == 0, done.stderr


def make_source(base: Path) -> Path:
    """A DVC repository with data added, produced by a stage and in Git, pushed to a local remote.

    Its cache is then deleted, so importers must read the remote. Tags ``v1``.
    """
    src = base / "src"
    src.mkdir()
    git(src, "init", "-q", "-b", "main")
    _dvc(src, "init", "-q")
    _dvc(src, "remote", "add", "-d", "store", str(base / "remote"))
    gen(
        src, {"data/f.txt": "abc\n", "data/dir/x": "1", "data/dir/sub/y": "22", "code.py": "pass\n"}
    )
    stages = (
        "  gen:\n    cmd: echo made > gen.txt\n    outs:\n    - gen.txt\n"
        "  m:\n    cmd: echo 1 > m.json\n    outs:\n    - m.json:\n        cache: false\n"
        "  w:\n    wdir: data\n    cmd: echo w > w.txt\n    outs:\n    - w.txt\n"
    )
    gen(src, {"dvc.yaml": "stages:\n" + stages})
    _dvc(src, "add", "-q", "data/f.txt", "data/dir")
    _dvc(src, "repro", "-q")
    git(src, "add", "-A")
    git(src, "commit", "-q", "-m", "data")
    git(src, "tag", "v1")
    _dvc(src, "push", "-q")
    shutil.rmtree(src / ".dvc" / "cache")
    return src


def _new_repo(path: Path) -> Path:
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    _dvc(path, "init", "-q")
    return path


def _twin_of(repo: Path, path: Path) -> Path:
    """A copy of the fresh repository ``repo`` (one ``dvc init`` serves both twins)."""
    shutil.copytree(repo, path, symlinks=True)
    return path


_CALLS = [
    # (url, path, out, rev, no_exec, no_download)
    ("../src", "data/f.txt", None, None, False, False),
    ("file://{src}", "data/dir", "d", "v1", False, False),
    ("{src}", "data/dir/sub/y", "y2", None, False, False),
    ("{src}", "data/dir/sub", "s", None, False, False),
    ("../src", "code.py", None, "main", False, False),
    ("../src", "gen.txt", None, None, False, False),
    ("../src", "m.json", None, None, False, False),
    ("../src", "data/w.txt", None, None, False, False),
    ("../src", "data/f.txt", "ne", None, True, False),
    ("../src", "data/f.txt", "nd", None, False, True),
]
_OUTS = ["f.txt", "d", "y2", "s", "code.py", "gen.txt", "m.json", "w.txt", "ne", "nd"]

_DVC_SCRIPT = """
import json, sys
from dvc.repo import Repo
repo = Repo(".")
for url, path, out, rev, no_exec, no_download in json.loads(sys.argv[1]):
    repo.imp(url, path, out=out, rev=rev, no_exec=no_exec, no_download=no_download)
"""


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Read-only sources: ``src`` (data on its remote), ``bare`` (a clone with no data
    anywhere), ``plain`` (a folder that is no Git repository)."""
    base = tmp_path_factory.mktemp("sources")
    src = make_source(base)
    bare = base / "bare"
    git(base, "clone", "-q", str(src), str(bare))
    _dvc(bare, "remote", "remove", "store")
    gen(base / "plain", {"data/f.txt": "x\n"})
    return {"src": src, "bare": bare, "plain": base / "plain"}


@pytest.fixture(scope="module")
def twin(tmp_path_factory: pytest.TempPathFactory, sources: dict[str, Path]) -> tuple[Path, Path]:
    """Our repository and DVC's after the same imports from one source: (ours, theirs)."""
    base = sources["src"].parent
    src = sources["src"]
    theirs = _new_repo(base / "theirs")
    ours = _twin_of(theirs, base / "ours")
    calls = [(u.format(src=src), *rest) for u, *rest in _CALLS]
    for url, path, out, rev, no_exec, no_download in calls:
        options = ImportOptions(out=out, rev=rev, no_exec=no_exec, no_download=no_download)
        import_repo(ours, url, path, options, cwd=ours)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    done = subprocess.run(
        [dvc_python(), "-c", _DVC_SCRIPT, json.dumps(calls)],
        cwd=theirs, capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return ours, theirs


@pytest.mark.parametrize("out", _OUTS)
def test_dvc_file_is_byte_for_byte_dvcs(twin: tuple[Path, Path], out: str) -> None:
    ours, theirs = twin
    assert (ours / f"{out}.dvc").read_bytes() == (theirs / f"{out}.dvc").read_bytes()


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.relative_to(root).parts[0] not in (".git", ".dvc")
    }


def test_workspace_and_cache_match_dvc(twin: tuple[Path, Path]) -> None:
    ours, theirs = twin
    assert _tree(ours) == _tree(theirs)
    assert (ours / "d" / "sub" / "y").read_text() == "22"
    objects = {p.relative_to(ours).as_posix() for p in (ours / ".dvc/cache/files").rglob("*")}
    assert objects == {
        p.relative_to(theirs).as_posix() for p in (theirs / ".dvc/cache/files").rglob("*")
    }


def test_real_dvc_status_accepts_our_repo_imports(twin: tuple[Path, Path]) -> None:
    ours, _ = twin
    done = run_dvc(ours, "status", *(f"{o}.dvc" for o in _OUTS[:8]))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Data and pipelines are up to date."


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.relative_to(root).parts[0] != ".git"
    }


@pytest.mark.parametrize(
    ("url", "path", "rev", "said"),
    [
        ("{src}", "data/nope.txt", None, "no such file or folder"),
        ("{src}", "data/dir/nope", None, "no such file or folder in the DVC-tracked folder"),
        ("{src}", "data/f.txt", "no-such-tag", "unknown revision 'no-such-tag'"),
        ("{src}", "data/f.txt", "--output=/tmp/x", "'--output=/tmp/x' is not a revision"),
        ("{src}", "../escape", None, "give a path inside that repository"),
        ("{src}", "data", None, "folder holding DVC-tracked data"),
        ("{src}", "data/f.txt.dvc", None, "DVC file 'data/f.txt.dvc' cannot be a dependency"),
        ("{src}/nowhere", "data/f.txt", None, "no such folder"),
        ("{src}/data", "f.txt", None, "not the top of a Git repository"),
        ("{plain}", "data/f.txt", None, "not a git repository"),
        ("{bare}", "data/f.txt", None, "neither that repository's cache nor its default remote"),
        ("https://127.0.0.1:9/no.git", "data/f.txt", None, "git clone"),
    ],
)
def test_bad_source_is_one_line_naming_it_and_writes_nothing(
    sources: dict[str, Path], git_repo: Path, url: str, path: str, rev: str | None, said: str
) -> None:
    url = url.format(**sources)
    before = _snapshot(git_repo)
    with pytest.raises(ImportSourceError) as caught:
        import_repo(git_repo, url, path, ImportOptions(rev=rev), cwd=git_repo)
    text = str(caught.value)
    assert said in text and url in text and "\n" not in text
    assert _snapshot(git_repo) == before


def test_hostile_manifest_cannot_write_outside(tmp_path: Path, git_repo: Path) -> None:
    """A folder manifest on the source's remote naming '../../x' is refused, nothing written."""
    remote = tmp_path / "remote"
    payload = b"owned\n"
    file_md5 = hashlib.md5(payload).hexdigest()
    manifest = json.dumps([{"md5": file_md5, "relpath": "../../evil.txt"}], sort_keys=True)
    dir_md5 = hashlib.md5(manifest.encode()).hexdigest() + ".dir"
    gen(remote / "files" / "md5", {
        f"{file_md5[:2]}/{file_md5[2:]}": payload,
        f"{dir_md5[:2]}/{dir_md5[2:]}": manifest,
    })  # fmt: skip
    src = tmp_path / "src"
    gen(src, {
        ".dvc/config": f"[core]\n    remote = store\n['remote \"store\"']\n    url = {remote}\n",
        "data.dvc": f"outs:\n- md5: {dir_md5}\n  size: 6\n  nfiles: 1\n  hash: md5\n  path: data\n",
    })  # fmt: skip
    git(src, "init", "-q", "-b", "main")
    git(src, "add", "-A")
    git(src, "commit", "-q", "-m", "hostile")
    before = _snapshot(git_repo)
    with pytest.raises(ImportSourceError, match="unsafe path '../../evil.txt'"):
        import_repo(git_repo, str(src), "data", ImportOptions(), cwd=git_repo)
    assert _snapshot(git_repo) == before
    assert not list(tmp_path.rglob("evil.txt")) and not list(git_repo.rglob("evil.txt"))


def test_local_source_without_remote_is_read_from_its_cache(tmp_path: Path, git_repo: Path) -> None:
    payload = b"from the cache\n"
    md5 = hashlib.md5(payload).hexdigest()
    src = tmp_path / "src"
    gen(src, {
        ".dvc/config": "",
        ".dvc/.gitignore": "/cache\n",
        f".dvc/cache/files/md5/{md5[:2]}/{md5[2:]}": payload,
        "f.bin.dvc": f"outs:\n- md5: {md5}\n  size: {len(payload)}\n  hash: md5\n  path: f.bin\n",
    })  # fmt: skip
    git(src, "init", "-q", "-b", "main")
    git(src, "add", "-A")
    git(src, "commit", "-q", "-m", "cached only")

    import_repo(git_repo, str(src), "f.bin", ImportOptions(), cwd=git_repo)

    assert (git_repo / "f.bin").read_bytes() == payload
    assert (git_repo / ".dvc/cache/files/md5" / md5[:2] / md5[2:]).read_bytes() == payload
    assert f"rev_lock: {git(src, 'rev-parse', 'HEAD')}" in (git_repo / "f.bin.dvc").read_text()
