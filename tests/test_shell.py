"""Stage commands run through the shell with DVC's environment, output streamed."""

from __future__ import annotations

import os
from pathlib import Path

from prefect_dvc.shell import ShellRunner, shell_argv


def test_commands_run_in_order_in_cwd_and_stream_lines(tmp_path: Path) -> None:
    lines: list[str] = []
    result = ShellRunner().run(
        ["echo one; echo two >&2", "pwd", 'echo "$DVC_STAGE"'],
        cwd=tmp_path,
        env={**os.environ, "DVC_STAGE": "train"},
        on_line=lines.append,
    )
    assert result.ok
    assert lines == ["one", "two", str(tmp_path), "train"]


def test_first_failure_stops_and_reports_code_and_tail(tmp_path: Path) -> None:
    lines: list[str] = []
    result = ShellRunner().run(
        ["echo before; exit 3", "touch never"],
        cwd=tmp_path,
        env=dict(os.environ),
        on_line=lines.append,
    )
    assert (result.returncode, result.command, result.tail) == (
        3,
        "echo before; exit 3",
        ("before",),
    )
    assert not (tmp_path / "never").exists()


def test_bash_runs_without_rc_files(monkeypatch) -> None:
    monkeypatch.setenv("SHELL", "/bin/bash")
    assert shell_argv("x")[:3] == ["/bin/bash", "--noprofile", "--norc"]
    monkeypatch.setenv("SHELL", "/nonexistent/zsh")
    assert shell_argv("x") == ["/bin/sh", "-c", "x"]
