"""The CLI imports only what the command it runs needs.

A no-op ``repro`` and ``status`` (a pipeline real DVC has just brought up to
date) must decide without importing Prefect, without the experiments,
plots or remote-storage stacks, and without reaching any server; ``--help``
reads the same whichever command a process ran before it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import free_port, gen, git, run_dvc

CLI = str(Path(sys.executable).with_name("prefect-dvc"))

#: Packages (top-level names) and our modules a no-op must never load.
FORBIDDEN = (
    "prefect",
    "pydantic",  # typer coerces options through it; unset ones need nothing (cli/lazy_coercion.py)
    "s3fs",
    "aiohttp",
    "hydra",
    "omegaconf",
    "prefect_dvc.flows",
    "prefect_dvc.tasks",
    "prefect_dvc.plots",
    "prefect_dvc.experiments.collect",
    "prefect_dvc.experiments.override_grammar",
    "prefect_dvc.cli.exp",
    "prefect_dvc.cli.show",
    "prefect_dvc.cli.data",
    "botocore",
    "fsspec.implementations.http",
)

_PROBE = """
import json, sys
forbidden = json.loads(sys.stdin.read())
from prefect_dvc.cli import main
code = main(sys.argv[1:])
loaded = sorted(m for m in sys.modules for f in forbidden if m == f or m.startswith(f + "."))
print("LOADED=" + json.dumps(loaded))
sys.exit(code)
"""


@pytest.fixture(scope="module")
def dvc_twin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-stage pipeline with a param, brought up to date by real DVC (read-only here)."""
    root = tmp_path_factory.mktemp("lazy") / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    gen(
        root,
        {
            ".dvc/config": "",
            ".dvc/.gitignore": "/config.local\n/tmp\n/cache\n",
            "params.yaml": "lr: 0.1\n",
            "dvc.yaml": "stages:\n  make:\n    cmd: echo made > out.txt\n"
            "    params:\n      - lr\n    outs:\n      - out.txt\n",
        },
    )
    proc = run_dvc(root, "repro")
    assert proc.returncode == 0, proc.stderr
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "up to date")
    return root


def _offline_env(tmp_path: Path) -> dict[str, str]:
    """An environment whose every Prefect API is unreachable: a server touched would fail."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    env["PREFECT_API_URL"] = f"http://127.0.0.1:{free_port()}/api"
    env["PREFECT_DVC_SERVER"] = "off"
    return env


@pytest.mark.parametrize("command", ["repro", "status"])
def test_noop_loads_neither_prefect_nor_other_stacks(
    dvc_twin: Path, tmp_path: Path, command: str
) -> None:
    before = git(dvc_twin, "status", "--porcelain", "--ignored")
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, command],
        cwd=dvc_twin,
        input=json.dumps(FORBIDDEN),
        capture_output=True,
        text=True,
        env=_offline_env(tmp_path),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Data and pipelines are up to date." in proc.stdout
    loaded = json.loads(proc.stdout.split("LOADED=", 1)[1])
    assert loaded == []
    assert not (tmp_path / "prefect-home").exists()  # no server started or recorded
    assert git(dvc_twin, "status", "--porcelain", "--ignored") == before


def _cli_out(*args: str) -> str:
    proc = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_help_reads_the_same_after_another_command(tmp_path: Path) -> None:
    # NOTE: in one process, `version` registers its step first; the full
    # listings that follow must keep the order of a fresh process.
    script = (
        "import sys\nfrom prefect_dvc.cli import main\nsys.argv[0] = 'prefect-dvc'\n"
        "for argv in (['version'], ['queue', '--help'], ['--help'], ['exp', '--help']):\n"
        "    print('=====', flush=True)\n"
        "    assert main(argv) == 0\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    parts = proc.stdout.split("=====\n")
    assert parts[2] == _cli_out("queue", "--help")
    assert parts[3] == _cli_out("--help")
    assert parts[4] == _cli_out("exp", "--help")
    assert "kill" in parts[2] and "show" in parts[4]  # the steps that extend these groups ran


def test_root_help_before_a_command_lists_every_command() -> None:
    assert _cli_out("--help", "repro") == _cli_out("--help")


def test_each_step_adds_only_the_names_it_claims() -> None:
    from prefect_dvc import cli

    cli.register_commands(["--help"])
    by_id = {id(i): i for i in (*cli.app.registered_commands, *cli.app.registered_groups)}
    claimed: dict[str, set[int]] = {}
    for index, (_, names) in enumerate(cli._REGISTRATION):
        for name in names:
            claimed.setdefault(name, set()).add(index)
    for info_id, index in cli._step_of.items():
        info = by_id[info_id]
        name = info.name or info.callback.__name__
        assert index in claimed.get(name, set()), (name, index)
    registered = {i.name for i in by_id.values()}
    assert registered == set(claimed)


def test_given_option_values_still_go_through_typers_coercion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from prefect_dvc.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["repro", "-j", "abc"]) == 254
    err = capsys.readouterr().err
    assert "Invalid value for '-j' / '--jobs'" in err
    assert "valid integer" in err


def test_a_commands_exit_code_is_the_process_exit_code() -> None:
    """typer, without standalone mode, returns ``typer.Exit(n)``'s code; ``main`` must keep it.

    Before: only 130 was kept, so any other ``typer.Exit(n)`` ended as exit 0.
    """
    import typer

    from prefect_dvc.cli import app, main

    def probe(code: int = typer.Argument(...)) -> None:
        raise typer.Exit(code)

    app.command("exit-probe")(probe)
    try:
        assert main(["exit-probe", "3"]) == 3
        assert main(["exit-probe", "0"]) == 0
    finally:
        app.registered_commands[:] = [c for c in app.registered_commands if c.callback is not probe]
