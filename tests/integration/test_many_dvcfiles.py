"""Many ``dvc.yaml`` files: one index, DVC's default scopes (issue #13 §1).

A repository with a root ``dvc.yaml`` and a second pipeline in ``sub/`` that
reads the first one's out (plus pipeline files DVC never reads: a
``.dvcignore``d folder, a Git-ignored one, a nested DVC repository, each
broken so that reading it would fail) is copied into two twins. Real DVC
3.67.1 works in one, ``prefect-dvc`` in the other, each command from the
same folder; what DVC prints and writes is the expected value. The twins are
built and run once per module; the tests only read the records.
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
BROKEN = "stages: [not yaml\n"

PROJECT = {
    ".dvc/config": "",
    ".dvc/.gitignore": "/config.local\n/tmp\n/cache\n",
    ".dvcignore": "skipped/\n",
    ".gitignore": "venv/\n",
    "dvc.yaml": (
        "stages:\n  prepare:\n"
        f"    cmd: {PY} -c \"open('data.txt', 'w').write('x' * 5)\"\n"
        "    deps: [params.yaml]\n    outs: [data.txt]\n"
    ),
    "params.yaml": "seed: 1\n",
    "sub/dvc.yaml": (
        "stages:\n  train:\n"
        f"    cmd: {PY} train.py\n"
        "    deps: [../data.txt, train.py]\n    params: [lr]\n    outs: [model.txt]\n"
        "    metrics:\n    - metrics.json:\n        cache: false\n"
    ),
    "sub/params.yaml": "lr: 0.1\n",
    "sub/train.py": (
        "import yaml\n"
        "lr = yaml.safe_load(open('params.yaml'))['lr']\n"
        "open('model.txt', 'w').write(open('../data.txt').read() + str(lr))\n"
        "open('metrics.json', 'w').write('{\"acc\": 0.5}')\n"
    ),
    "skipped/dvc.yaml": BROKEN,
    "venv/dvc.yaml": BROKEN,
    "nested/.dvc/config": "",
    "nested/dvc.yaml": BROKEN,
    "other/README": "no pipeline here\n",
}

#: (label, folder, argv) of the read-only commands compared before anything ran.
READS = [
    ("status", "", ("status",)),
    ("status-json", "", ("status", "--json")),
    ("status-json-sub", "sub", ("status", "--json")),
    ("status-json-other", "other", ("status", "--json")),
    ("status-json-target", "", ("status", "--json", "sub/dvc.yaml:train")),
    ("status-json-with-deps", "sub", ("status", "--json", "--with-deps", "train")),
    ("dag", "", ("dag", "--dot")),
    ("dag-sub", "sub", ("dag", "--dot")),
    ("list-all", "", ("stage", "list", "--all")),
    ("list-sub", "sub", ("stage", "list")),
    ("list-target", "sub", ("stage", "list", "../dvc.yaml:prepare")),
]
#: Commands that must fail with DVC's words (the twin's path replaced by ROOT).
ERRORS = [
    ("repro-no-dvcyaml", "other", ("repro",)),
    ("repro-unknown-stage", "", ("repro", "nope")),
    ("repro-lock-target", "", ("repro", "sub/dvc.lock")),
    ("list-unknown-file", "", ("stage", "list", "nope/dvc.yaml")),
]


@dataclass
class Twins:
    theirs: Path
    ours: Path
    reads: dict[str, tuple[str, str]] = field(default_factory=dict)
    errors: dict[str, tuple[tuple[int, str], tuple[int, str]]] = field(default_factory=dict)
    after_root: dict[str, tuple[object, object]] = field(default_factory=dict)
    after_sub: dict[str, tuple[object, object]] = field(default_factory=dict)


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


def _ours(folder: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args], cwd=folder, capture_output=True, text=True, env=env, timeout=600
    )


def _last_line(text: str, root: Path) -> str:
    return text.strip().splitlines()[-1].replace(str(root.resolve()), "ROOT")


def _state(root: Path, folder: Path, run: object) -> dict[str, object]:
    """What the tests compare after a repro: files, lock bytes, status and metrics."""

    def read(rel: str) -> bytes | None:
        path = root / rel
        return path.read_bytes() if path.is_file() else None

    status = run(folder, "status", "--json")  # type: ignore[operator]
    state: dict[str, object] = {
        "files": {rel: read(rel) for rel in ("data.txt", "sub/model.txt", "sub/metrics.json")},
        "locks": {rel: read(rel) for rel in ("dvc.lock", "sub/dvc.lock")},
        "status": json.loads(status.stdout or "{}"),
    }
    if folder != root:  # NOTE: metrics once, when both pipelines ran
        state["metrics"] = json.loads(run(root, "metrics", "show", "--json").stdout)  # type: ignore[operator]
        state["metrics-table"] = run(root, "metrics", "show").stdout.strip()  # type: ignore[operator]
        state["exp-show"] = json.loads(run(root, "exp", "show", "--json").stdout)  # type: ignore[operator]
        state["metrics-here"] = run(folder, "metrics", "show").stdout.strip()  # type: ignore[operator]
    return state


def _split(state_theirs: dict[str, object], state_ours: dict[str, object]) -> dict:
    return {key: (state_theirs[key], state_ours[key]) for key in state_theirs}


@pytest.fixture(scope="module")
def twins(tmp_path_factory: pytest.TempPathFactory, prefect_env: dict[str, str]) -> Iterator[Twins]:
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as mp:
        for key, value in _identity(home).items():
            mp.setenv(key, value)
        base = tmp_path_factory.mktemp("index")
        proto = base / "proto"
        proto.mkdir()
        git(proto, "init", "-q", "-b", "main")
        gen(proto, PROJECT)
        git(proto, "add", "-A")  # NOTE: venv/ stays out, as in a real clone
        git(proto, "commit", "-q", "-m", "two pipelines")
        result = Twins(base / "theirs", base / "ours")
        for dest in (result.theirs, result.ours):
            shutil.copytree(proto, dest, symlinks=True)
        env = {**prefect_env, **_identity(home)}

        def ours(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
            return _ours(folder, env, *args)

        def theirs(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
            return run_dvc(folder, *args)

        for label, where, argv in READS:
            a, b = theirs(result.theirs / where, *argv), ours(result.ours / where, *argv)
            assert a.returncode == 0, (label, a.stderr)
            result.reads[label] = (a.stdout, b.stdout if b.returncode == 0 else b.stderr)
        for label, where, argv in ERRORS:
            a, b = theirs(result.theirs / where, *argv), ours(result.ours / where, *argv)
            result.errors[label] = (
                (a.returncode != 0, _last_line(a.stderr, result.theirs)),
                (b.returncode != 0, _last_line(b.stderr or b.stdout, result.ours)),
            )
        for who, root in ((theirs, result.theirs), (ours, result.ours)):
            done = who(root, "repro")
            assert done.returncode == 0, done.stderr
        result.after_root = _split(
            _state(result.theirs, result.theirs, theirs), _state(result.ours, result.ours, ours)
        )
        for who, root in ((theirs, result.theirs), (ours, result.ours)):
            done = who(root / "sub", "repro")
            assert done.returncode == 0, done.stderr
        result.after_sub = _split(
            _state(result.theirs, result.theirs / "sub", theirs),
            _state(result.ours, result.ours / "sub", ours),
        )
        yield result


@pytest.mark.parametrize("label", [label for label, _, _ in READS])
def test_read_only_commands_print_what_dvc_prints(twins: Twins, label: str) -> None:
    theirs, ours = twins.reads[label]
    if "json" in label:
        assert json.loads(ours) == json.loads(theirs)
    else:
        assert ours.strip() == theirs.strip()


def test_status_from_the_root_sees_the_other_pipeline(twins: Twins) -> None:
    status = json.loads(twins.reads["status-json"][1])
    assert set(status) == {"prepare", "sub/dvc.yaml:train"}


@pytest.mark.parametrize("label", [label for label, _, _ in ERRORS])
def test_bad_scopes_and_targets_fail_with_dvcs_words(twins: Twins, label: str) -> None:
    theirs, ours = twins.errors[label]
    assert theirs[0] and ours[0]
    assert ours[1] == theirs[1]


def test_repro_from_the_root_runs_only_the_root_pipeline(twins: Twins) -> None:
    files = twins.after_root["files"]
    assert files[1] == files[0]
    assert files[1]["data.txt"] == b"xxxxx" and files[1]["sub/model.txt"] is None  # type: ignore[index]
    assert twins.after_root["locks"][1] == twins.after_root["locks"][0]
    assert twins.after_root["status"][1] == twins.after_root["status"][0]


def test_repro_from_sub_runs_its_pipeline_and_writes_dvcs_locks(twins: Twins) -> None:
    theirs, ours = twins.after_sub["locks"]
    assert ours == theirs
    assert ours["sub/dvc.lock"] is not None  # type: ignore[index]
    assert twins.after_sub["files"][1] == twins.after_sub["files"][0]
    assert twins.after_sub["status"][1] == twins.after_sub["status"][0] == {}


def test_metrics_show_covers_every_pipeline(twins: Twins) -> None:
    theirs, ours = twins.after_sub["metrics"]
    assert ours == theirs
    assert ours[""]["data"]["sub/metrics.json"]["data"] == {"acc": 0.5}  # type: ignore[index]
    assert twins.after_sub["metrics-table"][1] == twins.after_sub["metrics-table"][0]
    # from sub/, DVC names the file from there
    assert twins.after_sub["metrics-here"][1] == twins.after_sub["metrics-here"][0]
    assert "sub/" not in str(twins.after_sub["metrics-here"][1])


def test_exp_show_has_every_pipelines_params_deps_and_outs(twins: Twins) -> None:
    theirs, ours = twins.after_sub["exp-show"]
    assert ours == theirs  # same baseline commit in both twins, so even SHAs and times agree
    workspace = ours[0]["data"]  # type: ignore[index]
    assert set(workspace["params"]) == {"params.yaml", "sub/params.yaml"}
    assert set(workspace["outs"]) == {"data.txt", "sub/model.txt"}
