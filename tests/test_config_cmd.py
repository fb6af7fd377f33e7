"""``config`` reads and writes the four config levels as real ``dvc config`` does.

Twin repositories, each with its own global and system config folders
(``DVC_GLOBAL_CONFIG_DIR``/``DVC_SYSTEM_CONFIG_DIR``): the same command
lines run through real DVC 3.67.1 in one and ``prefect-dvc`` in the other;
the files must end byte-identical and every printed value equal (with the
twin's own path swapped for a placeholder). Refusals change no file.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import gen, run_dvc

from prefect_dvc.cli import main

SEQUENCE = [
    ["config", "cache.dir", "../mycache"],
    ["config", "core.remote", "myr"],
    ["config", "remote.myr.url", "../store"],
    ["config", "remote.MyR.jobs", "4"],
    ["config", "--local", "core.autostage", "true"],
    ["config", "--global", "core.analytics", "false"],
    ["config", "--system", "core.check_update", "false"],
    ["config", "cache.type", "hardlink,symlink"],
    ["config", "cache.dir"],
    ["config", "remote.myr.url"],
    ["config", "core.autostage"],
    ["config", "core.analytics"],
    ["config", "core.nothing"],
    ["config", "-l"],
    ["config", "-l", "--project", "--show-origin"],
    ["config", "--show-origin", "core.autostage"],
    ["config", "--global", "-l"],
    ["config", "-u", "core.remote"],
    ["config", "--local", "-u", "core.autostage"],
]

REFUSED = [
    ["config", "--local", "core.nothing"],
    ["config", "-u", "core.nothing"],
    ["config", "-u", "nosec.x"],
    ["config", "-u", "remote.zz.url"],
    ["config", "core.foo", "1"],
    ["config", "core.autostage", "maybe"],
    ["config", "a.b.c.d"],
    ["config"],
    ["config", "-l", "core.remote"],
    ["config", "--show-origin", "core.remote", "x"],
]


def _env(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DVC_GLOBAL_CONFIG_DIR", str(root.parent / f"{root.name}-global"))
    monkeypatch.setenv("DVC_SYSTEM_CONFIG_DIR", str(root.parent / f"{root.name}-system"))


def _files(root: Path) -> dict[str, bytes]:
    paths = {
        "repo": root / ".dvc" / "config",
        "local": root / ".dvc" / "config.local",
        "global": root.parent / f"{root.name}-global" / "config",
        "system": root.parent / f"{root.name}-system" / "config",
    }
    return {k: p.read_bytes() for k, p in paths.items() if p.exists()}


def _ours(cwd: Path, args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    with pytest.MonkeyPatch.context() as m:
        m.chdir(cwd)
        code = main(args)
    return code, capsys.readouterr().out


@pytest.fixture
def twins(git_repo: Path, tmp_path: Path) -> tuple[Path, Path]:
    gen(git_repo, {"sub/keep": ""})
    theirs = tmp_path / "theirs"
    shutil.copytree(git_repo, theirs, symlinks=True)
    return git_repo, theirs


def test_config_commands_match_dvc(
    twins: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ours, theirs = twins
    for args in SEQUENCE:
        _env(theirs, monkeypatch)
        proc = run_dvc(theirs / "sub", *args)
        _env(ours, monkeypatch)
        code, out = _ours(ours / "sub", args, capsys)
        assert (code, proc.returncode) == (0, 0), (args, proc.stderr)
        assert out.replace(str(ours), "<root>") == proc.stdout.replace(str(theirs), "<root>"), args
        assert _files(ours) == _files(theirs), args
    assert b"../mycache" in _files(ours)["repo"]
    assert _files(ours)["local"] == b"\n"


def test_config_refusals_match_dvc_and_change_nothing(
    twins: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ours, theirs = twins
    for setup in (["config", "core.remote", "x"], ["config", "--local", "core.autostage", "true"]):
        _env(theirs, monkeypatch)
        assert run_dvc(theirs, *setup).returncode == 0
        _env(ours, monkeypatch)
        assert _ours(ours, setup, capsys)[0] == 0
    before = _files(ours)
    for args in REFUSED:
        _env(theirs, monkeypatch)
        proc = run_dvc(theirs, *args)
        _env(ours, monkeypatch)
        code, out = _ours(ours, args, capsys)
        assert proc.returncode != 0 and code != 0, (args, proc.returncode, code)
        assert code == (254 if proc.returncode == 254 else 1), args
        assert out == ""
        assert _files(ours) == before, args
    assert _files(theirs) == before


def test_global_level_works_outside_a_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = tmp_path / "nowhere"
    outside.mkdir()
    _env(outside, monkeypatch)
    assert _ours(outside, ["config", "--global", "core.autostage", "true"], capsys)[0] == 0
    assert _ours(outside, ["config", "core.autostage"], capsys) == (0, "true\n")
    assert _ours(outside, ["config", "--local", "core.autostage"], capsys)[0] == 1
    assert _files(outside) == {"global": b"[core]\n    autostage = true\n"}
