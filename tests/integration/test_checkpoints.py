"""Checkpoints end to end: the real ``prefect-dvc`` CLI, real Git, Prefect's test harness.

The example in ``examples/checkpoints`` is run 5 + 5 epochs; ``--rev`` from the
middle, ``--reset``, a SIGKILL after 3 checkpoints, a signal without a
checkpoint out and ``repro`` on a checkpoint stage are each checked.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from helpers import gen, git

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "checkpoints"
VENV_BIN = str(Path(sys.executable).parent)


@pytest.fixture
def ck_repo(git_repo: Path) -> Path:
    for item in EXAMPLE.iterdir():
        if item.is_file() and item.name != "README.md":
            shutil.copy2(item, git_repo / item.name)
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "checkpoints example")
    return git_repo


def _env() -> dict[str, str]:
    """The stage's ``python`` must be the one with prefect_dvc installed."""
    return {"PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}


def _chain(repo: Path, name: str) -> list[str]:
    base = git(repo, "rev-parse", "HEAD")
    ref = f"refs/exps/{base[:2]}/{base[2:]}/{name}"
    return git(repo, "rev-list", "--first-parent", ref, f"^{base}").split()


def _metrics(repo: Path, sha: str) -> dict:
    return json.loads(git(repo, "show", f"{sha}:metrics.json"))


def _artifact_rows(key: str) -> list[dict]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
            sort=ArtifactSort.CREATED_DESC,
            limit=1,
        )
    assert found, f"no artifact {key}"
    data = found[0].data
    return json.loads(data) if isinstance(data, str) else data


def test_example_5_plus_5_epochs(ck_repo: Path, cli: Callable) -> None:
    first = cli(ck_repo, "exp", "run", "-n", "ck1", env=_env())
    assert first.code == 0, first.err
    assert len(_chain(ck_repo, "ck1")) == 5
    second = cli(ck_repo, "exp", "run", env=_env())
    assert second.code == 0, second.err
    assert "Ran experiment 'ck1'" in second.out
    chain = _chain(ck_repo, "ck1")[::-1]  # oldest first
    assert len(chain) == 10
    assert [_metrics(ck_repo, sha)["epoch"] for sha in chain] == list(range(1, 11))

    shown = cli(ck_repo, "exp", "show", "--no-pager")
    assert shown.code == 0, shown.err
    assert f"╓ {chain[-1][:7]} [ck1]" in shown.out
    assert f"├─╨ {chain[0][:7]}" in shown.out
    assert shown.out.count("╟ ") == 8

    rows = _artifact_rows("exp-ck1-checkpoints")
    assert [row["step"] for row in rows] == list(range(1, 11))
    assert [row["commit"] for row in rows] == [sha[:7] for sha in chain]
    assert [row["epoch"] for row in rows] == list(range(1, 11))
    assert _artifact_rows("exp-ck1-progress") == 100.0  # 5 of train.epochs=5 in the run

    third = chain[2]
    applied = cli(ck_repo, "exp", "apply", third[:7])
    assert applied.code == 0, applied.err
    lock = yaml.safe_load(git(ck_repo, "show", f"{third}:dvc.lock"))
    [model_out] = [o for o in lock["stages"]["train"]["outs"] if o["path"] == "model.json"]
    restored = (ck_repo / "model.json").read_bytes()
    assert hashlib.md5(restored).hexdigest() == model_out["md5"]
    assert json.loads(restored)["epoch"] == 3
    assert _metrics(ck_repo, third) == json.loads((ck_repo / "metrics.json").read_text())


def test_rev_from_the_middle_branches_and_reset_starts_over(ck_repo: Path, cli: Callable) -> None:
    gen(ck_repo, {"params.yaml": "train:\n  epochs: 3\n  lr: 0.05\n  seed: 7\n"})
    assert cli(ck_repo, "exp", "run", "-n", "base3", env=_env()).code == 0
    chain = _chain(ck_repo, "base3")[::-1]
    resumed = cli(ck_repo, "exp", "run", "--rev", chain[1][:7], "-n", "from2", env=_env())
    assert resumed.code == 0, resumed.err
    branch = _chain(ck_repo, "from2")[::-1]
    assert branch[:2] == chain[:2]  # shares steps 1-2, then its own 3 more
    assert [_metrics(ck_repo, sha)["epoch"] for sha in branch] == [1, 2, 3, 4, 5]
    assert len(_chain(ck_repo, "base3")) == 3  # the original is untouched

    reset = cli(ck_repo, "exp", "run", "--reset", "-n", "fresh", env=_env())
    assert reset.code == 0, reset.err
    fresh = _chain(ck_repo, "fresh")[::-1]
    assert [_metrics(ck_repo, sha)["epoch"] for sha in fresh] == [1, 2, 3]
    assert not set(fresh) & set(chain)

    removed = cli(ck_repo, "exp", "remove", "from2")
    assert removed.code == 0, removed.err
    assert not git(ck_repo, "for-each-ref", "refs/exps/*/*/from2")


KILLABLE = """\
import json, os, time
from pathlib import Path
from prefect_dvc import make_checkpoint
Path("pid").write_text(str(os.getpid()))
model = Path("model.json")
step = json.loads(model.read_text())["epoch"] if model.exists() else 0
for _ in range(3):
    step += 1
    model.write_text(json.dumps({"epoch": step}))
    Path("metrics.json").write_text(json.dumps({"epoch": step}))
    make_checkpoint()
if os.environ.get("HANG"):
    time.sleep(600)
"""


def test_kill_after_three_checkpoints_keeps_them_resumable(
    ck_repo: Path, prefect_env: dict[str, str]
) -> None:
    gen(ck_repo, {"train.py": KILLABLE})
    git(ck_repo, "commit", "-qam", "killable")
    env = {**prefect_env, **_env(), "HANG": "1"}
    proc = subprocess.Popen(
        [str(Path(VENV_BIN) / "prefect-dvc"), "exp", "run", "-n", "k"],
        cwd=ck_repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if (ck_repo / "pid").exists() and len(_chain_or_empty(ck_repo, "k")) == 3:
            break
        time.sleep(0.2)
    os.kill(int((ck_repo / "pid").read_text()), signal.SIGKILL)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert "last good one is step 3" in out + err
    assert len(_chain(ck_repo, "k")) == 3

    again = subprocess.run(
        [str(Path(VENV_BIN) / "prefect-dvc"), "exp", "run"],
        cwd=ck_repo,
        env={**prefect_env, **_env()},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert again.returncode == 0, again.stderr
    chain = _chain(ck_repo, "k")[::-1]
    assert [_metrics(ck_repo, sha)["epoch"] for sha in chain] == [1, 2, 3, 4, 5, 6]


def _chain_or_empty(repo: Path, name: str) -> list[str]:
    try:
        return _chain(repo, name)
    except subprocess.CalledProcessError:
        return []


def test_signal_without_checkpoint_out_is_a_clear_error(ck_repo: Path, cli: Callable) -> None:
    text = (
        (ck_repo / "dvc.yaml")
        .read_text()
        .replace("      - model.json:\n          checkpoint: true\n", "      - model.json\n")
    )
    gen(ck_repo, {"dvc.yaml": text})
    git(ck_repo, "commit", "-qam", "no checkpoint out")
    result = cli(ck_repo, "exp", "run", env=_env())
    assert result.code == 1
    assert "checkpoint: true" in result.err
    assert "ERROR:" in result.err


def test_repro_refuses_checkpoint_stages(ck_repo: Path, cli: Callable) -> None:
    result = cli(ck_repo, "repro", env=_env())
    assert result.code == 1
    assert "exp run" in result.err
