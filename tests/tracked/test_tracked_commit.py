"""``prefect-dvc commit`` against real ``dvc commit`` 3.67.1: same verdicts, same files."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import gen, git
from tracked_twins import cache_listing, dvc, make_repo, pd

PIPELINE = """stages:
  s1:
    cmd: cat a > s1.txt
    deps: [a]
    outs: [s1.txt]
"""
# (args, expected exit code): the order matters, each step starts where the last one ended
STEPS = [
    (["commit", "a.dvc"], 1),
    (["commit"], 1),
    (["commit", "-f", "a.dvc"], 0),
    (["commit", "-f"], 0),
    (["commit"], 0),
    (["commit", "s1"], 1),
    (["commit", "-f", "s1.txt"], 0),
    (["commit", "nothere"], 1),
    (["commit", "-f", "dvc.yaml:s1"], 0),
]
FILES = ("a.dvc", "d.dvc", "dvc.lock", ".gitignore")


def _line(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Both twins through STEPS: outputs and the files after each step."""
    out: dict[str, object] = {}
    for who, tool in (("dvc", dvc), ("ours", pd)):
        root = make_repo(tmp_path_factory.mktemp(who) / "repo", {"a": "a\n", "d/x": "1\n"})
        assert tool(root, "add", "-q", "a", "d").returncode == 0
        gen(root, {"dvc.yaml": PIPELINE})
        assert dvc(root, "repro", "-q").returncode == 0
        git(root, "add", "-A")
        git(root, "commit", "-qm", "pipeline")
        gen(root, {"a": "2\n", "d/y": "3\n"})
        steps = []
        for args, _code in STEPS:
            if args == ["commit", "s1"]:
                gen(root, {"s1.txt": "5\n"})
            done = tool(root, *args)
            files = {f: (root / f).read_text() for f in FILES}
            steps.append((done.returncode, done.stdout, _line(done.stderr), files))
        out[who] = (root, steps)
    return out


@pytest.mark.parametrize("index", range(len(STEPS)))
def test_commit_step_matches_dvc(runs: dict, index: int) -> None:
    _, theirs = runs["dvc"]
    _, ours = runs["ours"]
    assert theirs[index][0] == STEPS[index][1], theirs[index]
    assert ours[index] == theirs[index]


def test_commit_leaves_what_real_dvc_reads_as_up_to_date(runs: dict) -> None:
    (theirs_root, _), (ours_root, _) = runs["dvc"], runs["ours"]
    assert cache_listing(ours_root) == cache_listing(theirs_root)
    status = dvc(ours_root, "status")
    assert status.stdout == "Data and pipelines are up to date.\n", status.stdout


def test_commit_puts_no_commit_data_into_the_cache(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo", {"big/f1": "1\n", "big/f2": "2\n"})
    assert pd(root, "add", "--no-commit", "big").returncode == 0
    assert "not in cache" in pd(root, "status").stdout
    done = pd(root, "commit", "big.dvc")
    assert done.returncode == 0, done.stderr
    assert dvc(root, "status").stdout == "Data and pipelines are up to date.\n"
    assert len(cache_listing(root)) == 3  # two files and the .dir manifest


def test_a_hostile_dvc_file_cannot_reach_git_or_delete_outside(tmp_path: Path) -> None:
    import os
    import stat

    root = make_repo(tmp_path / "repo", {"x": "x\n"})
    gen(root, {"evil.dvc": "outs:\n- md5: 0123456789abcdef0123456789abcdef\n  path: .git/config\n"})
    config = root / ".git" / "config"
    mode, text = stat.S_IMODE(config.stat().st_mode), config.read_text()
    done = pd(root, "commit", "-f", "evil.dvc")
    assert done.returncode == 1
    assert "it is inside '.git', which belongs to Git" in done.stderr
    assert (stat.S_IMODE(config.stat().st_mode), config.read_text()) == (mode, text)
    assert not (root / ".dvc" / "cache").exists() or not any(os.scandir(root / ".dvc/cache"))
    removed = pd(root, "remove", "--outs", "evil.dvc")
    assert removed.returncode == 1
    assert config.read_text() == text and (root / "evil.dvc").is_file()
