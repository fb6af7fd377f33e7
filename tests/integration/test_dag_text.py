"""``dag --mermaid`` and ``dag --md`` print real ``dvc dag``'s bytes."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import gen, run_dvc

from prefect_dvc.cli import main

# Two pipelines: z-feed -> b -> a-train, c -> a-train; and a lone 'solo'.
DVC_YAML = """\
stages:
  z-feed:
    cmd: echo 1 > f
    outs: [f]
  b:
    cmd: cat f > b
    deps: [f]
    outs: [b]
  c:
    cmd: echo c > c
    outs: [c]
  a-train:
    cmd: cat b c > a
    deps: [b, c]
    outs: [a]
  solo:
    cmd: echo s > s
    outs: [s]
"""


@pytest.mark.parametrize("flag", ["--mermaid", "--md"])
def test_dag_mermaid_matches_dvc(
    flag: str, git_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    gen(git_repo, {"dvc.yaml": DVC_YAML})
    proc = run_dvc(git_repo, "dag", flag)
    assert proc.returncode == 0, proc.stderr
    monkeypatch.chdir(git_repo)
    capsys.readouterr()
    assert main(["dag", flag]) == 0
    out = capsys.readouterr().out
    assert out == proc.stdout
    assert "node5" in out and "-->" in out
