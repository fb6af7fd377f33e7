"""A failed stage is reported by our one line only (issue #11 section 4 follow-ups)."""

from __future__ import annotations

from pathlib import Path

from helpers import gen, git


def test_failed_stage_final_line_is_our_error_without_class_name_or_stray_lines(
    git_repo: Path, cli
) -> None:
    gen(git_repo, {"dvc.yaml": "stages:\n  s:\n    cmd: echo half && exit 3\n"})
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "failing stage")
    result = cli(git_repo, "repro")
    assert result.code != 0
    lines = result.err.splitlines()
    errors = [ln for ln in lines if ln.startswith("ERROR:")]
    assert errors == [
        "ERROR: dvc.yaml:2: stage 's': command 'echo half && exit 3' failed with exit code 3; "
        "last output: half. Fix the command and run again."
    ], result.err
    assert "NoneType: None" not in result.err
    assert "StageFailedError" not in result.err + result.out
    assert not (git_repo / "dvc.lock").exists()
