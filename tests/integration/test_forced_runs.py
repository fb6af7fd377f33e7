"""Forced runs run their stages; unforced runs fall back to older run-cache entries.

The stage writes ``date +%s%N``, so two runs of its command never write the
same bytes: a forced run that was restored from the run-cache instead keeps
the old stamp and fails these tests.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from helpers import gen, git

STAMP = {
    "dvc.yaml": "stages:\n  stamp:\n    cmd: date +%s%N > stamp.txt\n"
    "    deps: [seed.txt]\n    outs: [stamp.txt]\n",
    "seed.txt": "1\n",
}


@pytest.fixture
def stamp_repo(git_repo: Path) -> Path:
    gen(git_repo, STAMP)
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "stamp pipeline")
    return git_repo


def _entries(root: Path) -> list[Path]:
    return [p for p in (root / ".dvc" / "cache" / "runs").glob("*/*/*") if p.is_file()]


def _object(root: Path, data: bytes) -> Path:
    md5 = hashlib.md5(data).hexdigest()
    return root / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]


def test_repro_force_runs_the_command_instead_of_restoring(stamp_repo: Path, cli) -> None:
    assert cli(stamp_repo, "repro").code == 0
    first = (stamp_repo / "stamp.txt").read_bytes()
    result = cli(stamp_repo, "repro", "-f")
    assert result.code == 0, result.err
    assert (stamp_repo / "stamp.txt").read_bytes() != first
    assert "restored from run-cache" not in result.out + result.err
    assert len(_entries(stamp_repo)) == 2


def test_repro_force_runs_even_when_the_out_is_gone(stamp_repo: Path, cli) -> None:
    assert cli(stamp_repo, "repro").code == 0
    first = (stamp_repo / "stamp.txt").read_bytes()
    (stamp_repo / "stamp.txt").unlink()
    assert cli(stamp_repo, "repro", "-f").code == 0
    assert (stamp_repo / "stamp.txt").read_bytes() != first


def test_exp_run_force_runs_the_command(stamp_repo: Path, cli) -> None:
    first = cli(stamp_repo, "exp", "run", "-n", "one")
    assert first.code == 0, first.err
    stamp = (stamp_repo / "stamp.txt").read_bytes()
    again = cli(stamp_repo, "exp", "run", "-f", "-n", "one")
    assert again.code == 0, again.err
    assert (stamp_repo / "stamp.txt").read_bytes() != stamp
    committed = git(stamp_repo, "show", f"{_exp_ref(stamp_repo, 'one')}:dvc.lock")
    assert "stamp.txt" in committed


def _exp_ref(root: Path, name: str) -> str:
    refs = git(root, "for-each-ref", "--format=%(refname)", "refs/exps").split()
    return next(r for r in refs if r.endswith("/" + name))


def _two_entries(root: Path, cli) -> tuple[bytes, bytes]:
    """Run, then force a second run; the second entry is made the newer by mtime."""
    assert cli(root, "repro").code == 0
    old = (root / "stamp.txt").read_bytes()
    old_entries = set(_entries(root))
    assert cli(root, "repro", "-f").code == 0
    new = (root / "stamp.txt").read_bytes()
    (newer,) = set(_entries(root)) - old_entries
    (older,) = old_entries
    os.utime(older, (1_000_000_000, 1_000_000_000))
    os.utime(newer, (2_000_000_000, 2_000_000_000))
    return old, new


def test_gc_ed_newest_entry_falls_back_to_an_older_one(stamp_repo: Path, cli) -> None:
    old, new = _two_entries(stamp_repo, cli)
    obj = _object(stamp_repo, new)
    obj.chmod(0o644)
    obj.unlink()
    (stamp_repo / "stamp.txt").unlink()
    result = cli(stamp_repo, "repro")
    assert result.code == 0, result.err
    assert (stamp_repo / "stamp.txt").read_bytes() == old
    assert "restored from run-cache" in result.out + result.err


def test_corrupt_newest_entry_falls_back_to_an_older_one(stamp_repo: Path, cli) -> None:
    old, new = _two_entries(stamp_repo, cli)
    obj = _object(stamp_repo, new)
    obj.chmod(0o644)
    obj.write_bytes(b"bit rot, longer than a stamp\n")
    (stamp_repo / "stamp.txt").unlink()
    result = cli(stamp_repo, "repro")
    assert result.code == 0, result.err
    assert (stamp_repo / "stamp.txt").read_bytes() == old
    assert "restored from run-cache" in result.out + result.err


def test_no_restorable_entry_runs_the_command(stamp_repo: Path, cli) -> None:
    old, new = _two_entries(stamp_repo, cli)
    for data in (old, new):
        obj = _object(stamp_repo, data)
        obj.chmod(0o644)
        obj.unlink()
    (stamp_repo / "stamp.txt").unlink()
    result = cli(stamp_repo, "repro")
    assert result.code == 0, result.err
    assert (stamp_repo / "stamp.txt").read_bytes() not in (old, new)
