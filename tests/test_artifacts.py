"""``artifacts get`` against ``dvc artifacts get`` (DVC 3.67.1) on one registry repository.

The repository is built by DVC (``repro`` of three commits) and registered
with annotated GTO tags at distinct times; each case runs DVC in one empty
folder and our command in another, and the folders, the message line and
the exit status must agree.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import gen, git, run_dvc

from prefect_dvc.artifacts import artifact_rev, parse_tag
from prefect_dvc.errors import ArtifactError

CLI = str(Path(sys.executable).with_name("prefect-dvc"))

DVC_YAML = """\
stages:
  train:
    cmd: mkdir -p models && cp version.txt models/model.pkl && echo extra > models/notes.txt
    deps: [version.txt]
    outs: [models]
artifacts:
  model:
    path: models/model.pkl
    type: model
  clf:
    path: models
"""


def _tag(root: Path, name: str, rev: str, when: int, *, annotated: bool = True) -> None:
    env = {**os.environ, "GIT_COMMITTER_DATE": f"{when} +0000"}
    args = ["git", "tag", *(["-a", "-m", name] if annotated else []), name, rev]
    subprocess.run(args, cwd=root, env=env, check=True, capture_output=True)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Commits c1..c3 (model 'v1'..'v3'), a sub/dvc.yaml artifact, and GTO tags."""
    root = tmp_path_factory.mktemp("registry") / "repo"
    root.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(tmp_path_factory.mktemp("home")))
        for who in ("AUTHOR", "COMMITTER"):
            mp.setenv(f"GIT_{who}_NAME", "Test User")
            mp.setenv(f"GIT_{who}_EMAIL", "test@example.com")
        git(root, "init", "-q", "-b", "main")
        assert run_dvc(root, "init", "-q").returncode == 0
        sub = "artifacts:\n  sub-model:\n    path: w.txt\n"
        gen(root, {"dvc.yaml": DVC_YAML, "sub/dvc.yaml": sub})
        commits = []
        for version in ("v1", "v2", "v3"):
            gen(root, {"version.txt": version + "\n", "sub/w.txt": f"sub {version}\n"})
            done = run_dvc(root, "repro", "-q")
            assert done.returncode == 0, done.stderr
            git(root, "add", "-A")
            git(root, "commit", "-q", "-m", version)
            commits.append(git(root, "rev-parse", "HEAD"))
        c1, c2, c3 = commits
        tags = [
            ("model@v1.0.0", c1),
            ("model@v1.9.0", c2),
            ("model@v1.10.0", c1),  # NOTE: 1.10 > 1.9 as versions, not as text
            ("model@v2.0.0-rc.1", c3),
            ("model@v2.0.0", c1),  # NOTE: a release outranks its release candidate
            ("model#prod#1", c3),
            ("model#prod#2", c2),
            ("clf@v0.1.0", c3),
            ("sub=sub-model@v1.0.0", c2),
        ]
        for index, (tag, rev) in enumerate(tags):
            _tag(root, tag, rev, 1_700_000_000 + index * 60)
        _tag(root, "model@v9.0.0", c3, 1_700_010_000, annotated=False)
        yield root


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _both(registry: Path, tmp_path: Path, *args: str, seed: dict[str, str] | None = None):
    theirs_dir, ours_dir = tmp_path / "dvc", tmp_path / "ours"
    for folder in (theirs_dir, ours_dir):
        folder.mkdir()
        gen(folder, seed or {})
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    dvc_bin = run_dvc(registry, "version").args[0]
    theirs = subprocess.run(
        [dvc_bin, "artifacts", "get", str(registry), *args],
        cwd=theirs_dir,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    ours = subprocess.run(
        [CLI, "artifacts", "get", str(registry), *args],
        cwd=ours_dir,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    return theirs, ours, theirs_dir, ours_dir


@pytest.mark.parametrize(
    "args",
    [
        ("model",),
        ("model", "--stage", "prod"),
        ("clf",),
        ("sub:sub-model", "-o", "deep/er/w.txt"),
        ("model", "-o", "existing-dir"),
    ],
)
def test_downloads_what_dvc_downloads(
    registry: Path, tmp_path: Path, args: tuple[str, ...]
) -> None:
    seed = {"existing-dir/keep.txt": "mine\n"}
    theirs, ours, theirs_dir, ours_dir = _both(registry, tmp_path, *args, seed=seed)
    assert theirs.returncode == 0, theirs.stderr
    assert ours.returncode == 0, ours.stderr
    assert _files(ours_dir) == _files(theirs_dir)
    assert ours.stdout == theirs.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("nope",),
        ("model", "--rev", "v9.0.0"),  # only a lightweight tag: GTO ignores it
        ("model",),  # model.pkl exists: refused without --force
    ],
)
def test_refuses_what_dvc_refuses_and_writes_nothing(
    registry: Path, tmp_path: Path, args: tuple[str, ...]
) -> None:
    seed = {"model.pkl": "my own file\n"}
    theirs, ours, theirs_dir, ours_dir = _both(registry, tmp_path, *args, seed=seed)
    assert theirs.returncode != 0 and ours.returncode != 0
    assert _files(ours_dir) == _files(theirs_dir) == {"model.pkl": b"my own file\n"}
    lines = ours.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ERROR: "), ours.stderr


def test_force_overwrites_as_dvc(registry: Path, tmp_path: Path) -> None:
    seed = {"model.pkl": "my own file\n"}
    theirs, ours, theirs_dir, ours_dir = _both(registry, tmp_path, "model", "-f", seed=seed)
    assert theirs.returncode == ours.returncode == 0
    assert _files(ours_dir) == _files(theirs_dir) == {"model.pkl": b"v1\n"}


def test_object_only_on_the_default_remote_is_fetched(registry: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(registry, repo, symlinks=True)
    store = tmp_path / "store"
    shutil.copytree(repo / ".dvc" / "cache" / "files", store / "files")
    assert run_dvc(repo, "remote", "add", "-d", "store", str(store)).returncode == 0
    cache = repo / ".dvc" / "cache" / "files" / "md5"
    for obj in cache.rglob("*"):
        if obj.is_file() and not obj.name.endswith(".dir"):
            obj.unlink()
    out = tmp_path / "out"
    out.mkdir()
    result = subprocess.run(
        [CLI, "artifacts", "get", str(repo), "clf"], cwd=out, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert _files(out) == {"models/model.pkl": b"v3\n", "models/notes.txt": b"extra\n"}


# NOTE: gto.tag.parse_name's verdicts on each tag (name, version, stage), from DVC's environment.
GTO = {
    "path/to=model@v1.2.3-rc.1+build#4": ("path/to:model", "v1.2.3-rc.1+build", None),
    "a/b/dvc.yaml=m@v1.0.0": ("a/b/dvc.yaml:m", "v1.0.0", None),
    "model@v1.0.0!#3": ("model", "v1.0.0", None),
    "model#prod!#5": ("model", None, "prod"),
    "model@deprecated#2": ("model", None, None),
    "path=to=model@v1.2.3": None,
    "model@1.2.3": None,
    "-model@v1.0.0": None,
    "model@v01.0.0": None,
}


@pytest.mark.parametrize("tag", list(GTO))
def test_tag_grammar_is_gtos(tag: str) -> None:
    parsed = parse_tag(tag)
    got = None if parsed is None else (parsed.name, parsed.version, parsed.stage)
    assert got == GTO[tag]


def test_revision_choice(registry: Path) -> None:
    def commit(tag: str) -> str:
        return git(registry, "rev-list", "-n1", tag)

    assert artifact_rev(registry, "model") == commit("model@v2.0.0")
    assert artifact_rev(registry, "dvc.yaml:model") == commit("model@v2.0.0")
    assert artifact_rev(registry, "model", version="v1.9.0") == commit("model@v1.9.0")
    assert artifact_rev(registry, "sub/dvc.yaml:sub-model") == commit("sub=sub-model@v1.0.0")
    # NOTE: DVC's words for both: 'Artifact version and stage are mutually
    # exclusive.' and 'Unable to find artifact ...'.
    with pytest.raises(ArtifactError, match="mutually exclusive"):
        artifact_rev(registry, "model", version="v1.0.0", stage="prod")
    for bad in ("../model", "a:b:c", "model/", ""):
        with pytest.raises(ArtifactError, match="Unable to find artifact"):
            artifact_rev(registry, bad)
