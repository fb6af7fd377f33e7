"""Usage errors of the real ``prefect-dvc`` command: one line, exit 254 as DVC, a close match.

DVC's argparse parser prints ``ERROR: <what>`` and exits 254 for any command
line it cannot parse; each case below is also asked of real DVC so the exit
code is DVC's, not ours by assumption.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import run_dvc

# (our arguments, the same mistake made to DVC, words our line must hold)
CASES = {
    "unknown-command": (
        ["frobnicate"],
        ["frobnicate"],
        ["No such command 'frobnicate'", "'prefect-dvc --help'"],
    ),
    "unknown-command-close": (["stat"], ["stat"], ["Did you mean 'status'"]),
    "unknown-subcommand-close": (["exp", "lst"], ["exp", "lst"], ["Did you mean 'list'?"]),
    "unknown-short-option": (["repro", "-Z"], ["repro", "-Z"], ["No such option: -Z"]),
    "short-option-case-slip": (["exp", "run", "-s", "x=1"], ["exp", "run", "-Z"], ["'-S'"]),
    "unknown-long-option-close": (
        ["status", "--jsn"],
        ["status", "--jsn"],
        ["No such option: --jsn. Did you mean '--json'?", "'prefect-dvc status --help'"],
    ),
    "unknown-root-option-close": (["--verbos", "status"], ["--verbos"], ["'--verbose'"]),
    "missing-argument": (["remote", "add"], ["remote", "add"], ["Missing argument"]),
    "missing-option-value": (
        ["exp", "run", "--set-param"],
        ["exp", "run", "--set-param"],
        ["'--set-param' requires an argument"],
    ),
    "bad-value": (["repro", "-j", "many"], ["repro", "-j", "many"], ["'--jobs'", "integer"]),
    "extra-argument": (["exp", "list", "a", "b", "c"], ["exp", "list", "a", "b", "c"], ["(b c)"]),
    "missing-subcommand": (["exp"], ["exp"], ["Missing command", "run", "show"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_usage_error_is_one_line_and_exit_254(git_repo: Path, cli, case: str) -> None:
    ours_args, dvc_args, words = CASES[case]
    dvc = run_dvc(git_repo, *dvc_args)
    ours = cli(git_repo, *ours_args)
    assert ours.code == dvc.returncode == 254, (ours.err, dvc.stderr)
    lines = ours.err.splitlines()
    assert len(lines) == 1, ours.err
    assert lines[0].startswith("ERROR: ")
    for word in words:
        assert word in lines[0]
    assert "Traceback" not in ours.err and "╭" not in ours.err


def test_no_close_match_suggests_nothing(git_repo: Path, cli) -> None:
    """``--bogus`` is not close to ``--jobs`` once the dashes are set aside (click says it is)."""
    ours = cli(git_repo, "repro", "--bogus")
    assert ours.code == 254
    assert ours.err == "ERROR: No such option: --bogus. See 'prefect-dvc repro --help'.\n"


def test_usage_error_changes_nothing(example_repo: Path, cli) -> None:
    before = {p: p.read_bytes() for p in example_repo.rglob("*") if p.is_file()}
    ours = cli(example_repo, "repro", "--forc")
    assert ours.code == 254
    assert "Did you mean '--force'?" in ours.err
    assert {p: p.read_bytes() for p in example_repo.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("args", [["--help"], ["repro", "--help"], ["exp", "run", "--help"]])
def test_help_still_works(git_repo: Path, cli, args: list[str]) -> None:
    ours = cli(git_repo, *args)
    assert ours.code == 0, ours.err
    assert "Usage: prefect-dvc" in ours.out
    assert ours.err == ""


def test_our_errors_keep_their_exit_code(tmp_path: Path, cli) -> None:
    """Not a usage error: outside a repository is our one-line error, exit 1 as before."""
    ours = cli(tmp_path, "status")
    assert ours.code == 1
    assert len(ours.err.splitlines()) == 1 and ours.err.startswith("ERROR: ")
