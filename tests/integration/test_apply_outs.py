"""``exp apply`` brings the experiment's cached outs, or fails naming them and changes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import gen, git

PIPELINE = {
    "params.yaml": "lr: 1\n",
    "dvc.yaml": (
        "stages:\n  train:\n    cmd: echo ${lr} > model.txt && mkdir -p data && "
        "echo ${lr} > data/w.txt\n    params: [lr]\n    outs: [model.txt, data]\n"
    ),
}


@pytest.fixture
def ran(git_repo: Path, tmp_path: Path, cli) -> Path:
    """``e1`` (lr=2) ran; its outs copied to a folder remote; workspace back at HEAD."""
    store = tmp_path / "store"
    gen(git_repo, {**PIPELINE, ".dvc/config": f'[remote "store"]\n    url = {store}\n'})
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "pipeline")
    result = cli(git_repo, "exp", "run", "-n", "e1", "-S", "lr=2")
    assert result.code == 0, result.err
    shutil.copytree(git_repo / ".dvc" / "cache" / "files", store / "files")
    git(git_repo, "checkout", "--", ".")
    for name in ("dvc.lock", "model.txt", "data"):
        path = git_repo / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    shutil.rmtree(git_repo / ".dvc" / "cache")
    return git_repo


def _workspace(repo: Path) -> tuple[str, list[str]]:
    files = sorted(
        p.relative_to(repo).as_posix()
        for p in repo.rglob("*")
        if p.is_file() and ".git" not in p.parts and "tmp" not in p.parts
    )
    return git(repo, "status", "--porcelain", "--untracked-files=all"), files


def test_apply_without_cache_or_remote_fails_naming_the_outs_and_changes_nothing(
    ran: Path, cli
) -> None:
    before = _workspace(ran)
    refs = git(ran, "for-each-ref")
    result = cli(ran, "exp", "apply", "e1")
    assert result.code == 1
    errors = [ln for ln in result.err.splitlines() if ln.startswith("ERROR:")]
    assert len(errors) == 1, result.err
    assert "2 out(s)" in errors[0] and "data" in errors[0] and "model.txt" in errors[0]
    assert _workspace(ran) == before
    assert git(ran, "for-each-ref") == refs
    assert (ran / "params.yaml").read_text() == "lr: 1\n"


def test_apply_fetches_missing_outs_from_the_default_remote(ran: Path, cli) -> None:
    assert cli(ran, "remote", "default", "store").code == 0
    result = cli(ran, "exp", "apply", "e1")
    assert result.code == 0, result.err
    assert "2 out(s) restored" in result.out
    assert (ran / "model.txt").read_text() == "2\n"
    assert (ran / "data" / "w.txt").read_text() == "2\n"
    assert "lr: 2" in (ran / "params.yaml").read_text()
