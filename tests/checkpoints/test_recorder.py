"""Recording checkpoints through the stage executor: real Git, real shell commands, no Prefect."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest
from helpers import gen, git

from prefect_dvc.checkpoints.recorder import EXEC_CHECKPOINT, CheckpointRecorder
from prefect_dvc.checkpoints.resume import chain, find_resume_point, history, step_target
from prefect_dvc.errors import CheckpointError, PipelineError, StageError
from prefect_dvc.execution import RunOptions, open_executor
from prefect_dvc.experiments.refs import ExpRef
from prefect_dvc.translators import load_pipeline

# NOTE: the signal-file protocol in plain sh: no Python in the command.
SHELL_TRAIN = """\
set -e
i=0
while [ $i -lt ${N:-3} ]; do
  i=$((i+1))
  echo "step $i" >> model.txt
  printf '{"step": %d, "loss": 0.%d}\\n' $i $((10 - i)) > metrics.json
  touch "$DVC_ROOT/.dvc/tmp/DVC_CHECKPOINT"
  while [ -e "$DVC_ROOT/.dvc/tmp/DVC_CHECKPOINT" ]; do sleep 0.01; done
done
"""

DVC_YAML = """\
stages:
  train:
    cmd: sh train.sh
    deps: [train.sh]
    params: [train]
    outs:
      - model.txt: {checkpoint: true}
    metrics:
      - metrics.json: {cache: false}
"""


def _project(root: Path, dvc_yaml: str = DVC_YAML, script: str = SHELL_TRAIN) -> str:
    gen(root, {"dvc.yaml": dvc_yaml, "params.yaml": "train:\n  epochs: 3\n", "train.sh": script})
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "project")
    return git(root, "rev-parse", "HEAD")


def _run(root: Path, recorder: CheckpointRecorder | None, stage: str = "train") -> None:
    with open_executor(root, load_pipeline(root)) as executor:
        executor.run(stage, RunOptions(checkpoints=recorder), print)


def test_three_signals_make_a_chain_of_three_commits(git_repo: Path) -> None:
    base = _project(git_repo)
    recorder = CheckpointRecorder(git_repo, baseline=base, name="ck", parent=None)
    _run(git_repo, recorder)
    tip = git(git_repo, "rev-parse", ExpRef(base, "ck").ref)
    commits = chain(git_repo_git(git_repo), base, tip)
    assert len(commits) == 3 == len(recorder.records)
    assert [r.commit for r in recorder.records] == commits[::-1]
    assert git(git_repo, "rev-parse", EXEC_CHECKPOINT) == tip
    for step, sha in enumerate(commits[::-1], start=1):
        metrics = json.loads(git(git_repo, "show", f"{sha}:metrics.json"))
        assert metrics == {"step": step, "loss": float(f"0.{10 - step}")}
        assert git(git_repo, "rev-list", "--count", f"{sha}^..{sha}") == "1"  # one parent
        assert "model.txt" not in git(git_repo, "ls-tree", "--name-only", sha)  # cached, not Git
        assert git(git_repo, "log", "-1", "--format=%s", sha).startswith("dvc: commit experiment ")
    assert [r.metrics["step"] for r in recorder.records] == [1, 2, 3]
    assert [c.step for c in history(git_repo, _stage(git_repo), base, tip)] == [1, 2, 3]
    point = find_resume_point(git_repo, resume=None, reset=False)
    assert point is not None and point.commit == tip and point.step == 3 and point.is_tip


def git_repo_git(root: Path):  # a small alias keeps the assertions readable
    from prefect_dvc.experiments.git import Git

    return Git(root)


def _stage(root: Path):
    return load_pipeline(root).stages["train"]


def test_repro_refuses_a_checkpoint_stage(git_repo: Path) -> None:
    _project(git_repo)
    with pytest.raises(StageError, match="exp run"):
        _run(git_repo, None)


def test_signal_without_checkpoint_out_is_a_clear_error(git_repo: Path) -> None:
    base = _project(git_repo, DVC_YAML.replace("model.txt: {checkpoint: true}", "model.txt"))
    recorder = CheckpointRecorder(
        git_repo, baseline=base, name="ck", parent=None, pipeline_has_checkpoints=False
    )
    with pytest.raises(CheckpointError, match="checkpoint: true"):
        _run(git_repo, recorder)
    assert recorder.records == []


def test_two_checkpoint_stages_are_rejected(git_repo: Path) -> None:
    two = DVC_YAML + (
        "  other:\n    cmd: sh train.sh\n    outs:\n      - other.txt: {checkpoint: true}\n"
    )
    gen(git_repo, {"dvc.yaml": two, "params.yaml": "train: {}\n", "train.sh": ""})
    with pytest.raises(PipelineError, match="both have 'checkpoint: true' outs"):
        load_pipeline(git_repo)


def test_step_target_detected_or_named(git_repo: Path) -> None:
    _project(git_repo)
    assert step_target(git_repo, _stage(git_repo)) == ("train.epochs", 3)
    named = DVC_YAML.replace(
        "    cmd: sh train.sh\n",
        "    cmd: sh train.sh\n    meta:\n      checkpoint_target: train.rounds\n",
    )
    gen(git_repo, {"dvc.yaml": named, "params.yaml": "train:\n  epochs: 3\n  rounds: 8\n"})
    assert step_target(git_repo, _stage(git_repo)) == ("train.rounds", 8)


def _plain_copy_seconds(src: Path, dest: Path) -> float:
    """What ``md5sum`` plus ``cp`` of the same file costs on this machine right now."""
    started = time.perf_counter()
    digest = hashlib.md5()
    with open(src, "rb") as reader, open(dest, "wb") as writer:
        while block := reader.read(1 << 22):
            digest.update(block)
            writer.write(block)
    return time.perf_counter() - started


def test_pause_for_a_100_mb_model(git_repo: Path, tmp_path: Path) -> None:
    """The pause is one read and one write of the model: about a plain copy's cost.

    On an idle machine with a local SSD that is ~0.2-0.3 s for 100 MB; on a
    loaded shared box, disk writes alone can take a second, so the bound is
    relative to a plain hash-and-copy measured here, next to the absolute one.
    """
    script = (
        "head -c 104857600 /dev/urandom > model.txt\n"
        "echo '{\"step\": 1}' > metrics.json\n"
        'touch "$DVC_ROOT/.dvc/tmp/DVC_CHECKPOINT"\n'
        'while [ -e "$DVC_ROOT/.dvc/tmp/DVC_CHECKPOINT" ]; do sleep 0.01; done\n'
    )
    base = _project(git_repo, script=script)
    recorder = CheckpointRecorder(git_repo, baseline=base, name="big", parent=None)
    _run(git_repo, recorder)
    paused = recorder.records[0].paused_seconds
    plain = _plain_copy_seconds(git_repo / "model.txt", tmp_path / "copy.bin")
    print(
        f"\ncheckpoint of a 100 MB model paused the command {paused * 1000:.0f} ms "
        f"(plain md5 + copy of it here: {plain * 1000:.0f} ms)"
    )
    assert paused < max(1.0, 1.5 * plain + 0.3)
