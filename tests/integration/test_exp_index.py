"""``exp run`` leaves the user's Git index as it was, whatever a stage ``git add``s.

DVC 3.67.1 runs the same experiment in a twin; after its ``exp run`` nothing
a stage staged is staged (its workspace executor resets the index). Ours
must report the same ``git status --porcelain`` and ``git diff --cached``,
and, beyond DVC, keep what the user had staged before the run byte for byte
(DVC unstages it), also when the stage fails after its ``git add``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import gen, git, run_dvc
from test_dvclive import index_state
from test_experiments import _identity_env, run_cli

ADDS = (
    "cat params.yaml > out.txt && echo note > notes.md && git add notes.md"
    " && echo more >> tracked.txt && git add tracked.txt"
)


def _repo(root: Path, cmd: str) -> Path:
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    gen(root, {".dvc/config": "", ".dvc/.gitignore": "/config.local\n/tmp\n/cache\n"})
    dvc_yaml = f"stages:\n  train:\n    cmd: {json.dumps(cmd)}\n    deps: [params.yaml]\n"
    dvc_yaml += "    outs: [out.txt]\n"
    gen(root, {"dvc.yaml": dvc_yaml, "params.yaml": "lr: 1\n", "tracked.txt": "t\n"})
    gen(root, {"user.txt": "u\n"})
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "baseline")
    return root


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, prefect_env: dict[str, str]) -> Iterator[dict]:
    env = _identity_env(tmp_path_factory.mktemp("home"), prefect_env)
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        yield env


def test_staged_by_a_stage_is_unstaged_as_dvc_does(env: dict, tmp_path: Path) -> None:
    theirs, ours = _repo(tmp_path / "dvc", ADDS), _repo(tmp_path / "ours", ADDS)
    done = run_dvc(theirs, "exp", "run", "-S", "lr=2")
    assert done.returncode == 0, done.stderr
    result = run_cli(ours, env, "exp", "run", "-S", "lr=2")
    assert result.code == 0, result.err
    assert index_state(ours) == index_state(theirs)
    assert index_state(ours)[1] == ""
    assert " M tracked.txt" in index_state(ours)[0].splitlines()
    assert (ours / "notes.md").read_text() == "note\n"


@pytest.mark.parametrize("ends", ["exit 0", "exit 3"])
def test_what_the_user_staged_stays_staged(env: dict, tmp_path: Path, ends: str) -> None:
    ours = _repo(tmp_path / "ours", f"{ADDS} && echo x >> user.txt && git add -A && {ends}")
    (ours / "user.txt").write_text("u\nA\n")
    git(ours, "add", "user.txt")
    (ours / "user.txt").write_text("u\nA\nB\n")  # NOTE: the staged version is in no file
    staged_tree = git(ours, "write-tree")
    result = run_cli(ours, env, "exp", "run", "-S", "lr=2")
    assert (result.code == 0) == (ends == "exit 0"), result.err
    assert git(ours, "write-tree") == staged_tree
    assert git(ours, "diff", "--cached", "--name-only") == "user.txt"
    assert git(ours, "show", ":user.txt") == "u\nA"
    assert (ours / "user.txt").read_text() == "u\nA\nB\nx\n"
