"""A DVC project in a folder of its Git repository (``dvc init --subdir``, issue #13 §2).

Git spells the project's files ``proj/params.yaml``; the project's own
commands speak of ``params.yaml``. One twin runs real DVC 3.67.1, the other
``prefect-dvc``, from the same commit (so the same baseline): two
experiments each, then the reads that go through Git (``exp show``,
``params diff``, ``metrics diff``, ``exp diff``, ``exp apply``). DVC's
experiment commits and JSON are the expected values. Built once per module.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from helpers import gen, git, run_dvc

pytestmark = pytest.mark.prefect

CLI = str(Path(sys.executable).with_name("prefect-dvc"))
PY = sys.executable

PROJECT = {
    "README": "the Git top, outside the DVC project\n",
    "proj/dvc.yaml": (
        "stages:\n  train:\n"
        f"    cmd: {PY} train.py\n"
        "    deps: [train.py]\n    params: [seed]\n    outs: [model.txt]\n"
        "    metrics:\n    - metrics.json:\n        cache: false\n"
    ),
    "proj/train.py": (
        "import yaml\n"
        "seed = yaml.safe_load(open('params.yaml'))['seed']\n"
        "open('model.txt', 'w').write(str(seed))\n"
        "open('metrics.json', 'w').write('{\"acc\": %s}' % (seed / 10))\n"
    ),
    "proj/params.yaml": "seed: 1\n",
    "proj/.gitignore": "",
}


@dataclass
class Twins:
    theirs: Path
    ours: Path
    init: dict[str, tuple[int, str]] = field(default_factory=dict)
    reads: dict[str, tuple[str, str]] = field(default_factory=dict)
    applied: dict[str, tuple[bytes, bytes]] = field(default_factory=dict)

    def exp_ref(self, top: Path, name: str) -> str:
        refs = git(top, "for-each-ref", "--format=%(refname)", "refs/exps/").split()
        [ref] = [r for r in refs if r.endswith("/" + name) and "/exec/" not in r]
        return ref


def _identity(home: Path) -> dict[str, str]:
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n")
    return {
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Test User",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test User",
        "GIT_COMMITTER_EMAIL": "test@example.com",
    }


def _run(folder: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args], cwd=folder, capture_output=True, text=True, env=env, timeout=600
    )


def _init_outcomes(base: Path, env: dict[str, str]) -> dict[str, tuple[int, str]]:
    """``init`` without ``--subdir`` inside a Git repository: refused by both, same words."""
    result = {}
    for who in ("theirs", "ours"):
        folder = base / f"init-{who}" / "inner"
        folder.mkdir(parents=True)
        git(folder.parent, "init", "-q")
        done = run_dvc(folder, "init") if who == "theirs" else _run(folder, env, "init")
        last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
        result[who] = (done.returncode, last.replace(str(folder), "FOLDER"))
        assert not (folder / ".dvc").exists()
    return result


@pytest.fixture(scope="module")
def twins(tmp_path_factory: pytest.TempPathFactory, prefect_env: dict[str, str]) -> Iterator[Twins]:
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as mp:
        for key, value in _identity(home).items():
            mp.setenv(key, value)
        env = {**prefect_env, **_identity(home)}
        base = tmp_path_factory.mktemp("subdir")
        proto = base / "proto"
        (proto / "proj").mkdir(parents=True)
        git(proto, "init", "-q", "-b", "main")
        done = _run(proto / "proj", env, "init", "--subdir")
        assert done.returncode == 0, done.stderr
        gen(proto, PROJECT)
        git(proto, "add", "-A")
        git(proto, "commit", "-q", "-m", "a project in proj/")
        result = Twins(base / "theirs", base / "ours")
        result.init = _init_outcomes(base, env)
        for dest in (result.theirs, result.ours):
            shutil.copytree(proto, dest, symlinks=True)

        def both(*args: str) -> tuple[str, str]:
            theirs = run_dvc(result.theirs / "proj", *args)
            ours = _run(result.ours / "proj", env, *args)
            assert theirs.returncode == 0, (args, theirs.stderr)
            assert ours.returncode == 0, (args, ours.stderr)
            return theirs.stdout, ours.stdout

        both("exp", "run", "-S", "seed=3", "-n", "e1")
        both("exp", "run", "-S", "seed=4", "-n", "e2")
        result.reads["exp-show"] = both("exp", "show", "--json")
        result.reads["params-diff"] = both("params", "diff", "--json")
        result.reads["metrics-diff"] = both("metrics", "diff", "--json")
        result.reads["exp-diff"] = both("exp", "diff", "e1", "e2", "--json")
        both("exp", "apply", "e1")
        for rel in ("proj/params.yaml", "proj/metrics.json", "proj/model.txt"):
            result.applied[rel] = (
                (result.theirs / rel).read_bytes(),
                (result.ours / rel).read_bytes(),
            )
        yield result


@pytest.mark.parametrize("name", ["e1", "e2"])
def test_experiment_commit_is_dvcs_tree(twins: Twins, name: str) -> None:
    theirs = twins.exp_ref(twins.theirs, name)
    ours = twins.exp_ref(twins.ours, name)
    assert ours == theirs  # same baseline, same name
    files = git(twins.ours, "ls-tree", "-r", "--name-only", ours).split()
    assert files == git(twins.theirs, "ls-tree", "-r", "--name-only", theirs).split()
    assert "proj/dvc.lock" in files and "proj/metrics.json" in files
    seed = "3" if name == "e1" else "4"
    assert git(twins.ours, "show", f"{ours}:proj/params.yaml") == f"seed: {seed}"
    assert git(twins.ours, "rev-parse", f"{ours}^{{tree}}") == git(
        twins.theirs, "rev-parse", f"{theirs}^{{tree}}"
    )


def _rows(text: str) -> list[tuple[object, ...]]:
    """``exp show --json`` rows without the parts that differ between twins (times, SHAs)."""
    rows = []
    for row in json.loads(text):
        entries = [row] + [r for e in row.get("experiments") or [] for r in e["revs"]]
        for entry in entries:
            data = entry["data"]
            rows.append(
                (entry["name"], data["params"], data["metrics"], data["deps"], data["outs"])
            )
    return sorted(rows, key=lambda r: str(r[0]))


def test_exp_show_reads_the_project_folder(twins: Twins) -> None:
    theirs, ours = twins.reads["exp-show"]
    assert _rows(ours) == _rows(theirs)
    seeds = {row[0]: row[1]["params.yaml"]["data"]["seed"] for row in _rows(ours)}  # type: ignore[index]
    assert seeds == {None: 4, "main": 1, "e1": 3, "e2": 4}


@pytest.mark.parametrize("label", ["params-diff", "metrics-diff", "exp-diff"])
def test_diffs_read_the_project_folder(twins: Twins, label: str) -> None:
    theirs, ours = twins.reads[label]
    assert json.loads(ours) == json.loads(theirs)
    assert json.loads(ours)  # not an empty diff


def test_exp_apply_writes_the_project_files(twins: Twins) -> None:
    for rel, (theirs, ours) in twins.applied.items():
        assert ours == theirs, rel
    assert twins.applied["proj/params.yaml"][1] == b"seed: 3\n"


def test_init_inside_git_needs_subdir_as_in_dvc(twins: Twins) -> None:
    (their_code, theirs), (our_code, ours) = twins.init["theirs"], twins.init["ours"]
    assert their_code != 0 and our_code != 0
    assert ours == theirs
