"""Stages reading ``.dvc``-tracked data, and stage outs overlapping it, as DVC 3.67.1 sees them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from helpers import gen, run_dvc
from tracked_twins import dvc, make_repo, pd

FILES = {"data/data.xml": "x\n", "data/imgs/a": "1\n", "data/imgs/b": "2\n"}
PIPELINE = """stages:
  s1:
    cmd: cat data/data.xml data/imgs/a > s1.txt
    deps: [data/data.xml, data/imgs/a, data/imgs]
    outs: [s1.txt]
"""


def _one_stage(cmd: str, out: str) -> str:
    return f"stages:\n  s1:\n    cmd: {cmd}\n    outs: [{out}]\n"


def _project(base: Path, name: str) -> Path:
    root = make_repo(base / name / "repo", FILES)
    assert pd(root, "add", "data/data.xml", "data/imgs").returncode == 0
    gen(root, {"dvc.yaml": PIPELINE})
    return root


def test_stage_deps_on_tracked_data_lock_as_dvc(tmp_path: Path, cli: Callable) -> None:
    theirs, ours = _project(tmp_path, "dvc"), _project(tmp_path, "ours")
    assert dvc(theirs, "repro").returncode == 0
    done = cli(ours, "repro")
    assert done.code == 0, done.err
    assert (ours / "dvc.lock").read_bytes() == (theirs / "dvc.lock").read_bytes()
    assert run_dvc(ours, "status").stdout == "Data and pipelines are up to date.\n"
    # the data gone from the workspace: DVC's words, and nothing runs
    (ours / "data" / "data.xml").unlink()
    (theirs / "data" / "data.xml").unlink()
    expected = "failed to reproduce 'data/data.xml.dvc': missing data 'source': data/data.xml"
    assert expected in dvc(theirs, "repro").stderr
    failed = cli(ours, "repro")
    assert failed.code == 1
    assert expected in failed.err
    assert (ours / "s1.txt").read_text() == "x\n1\n"


def test_stage_out_overlapping_tracked_data_is_refused(tmp_path: Path, cli: Callable) -> None:
    root = _project(tmp_path, "ours")
    gen(root, {"dvc.yaml": _one_stage("echo 2 > data/imgs/b", "data/imgs/b")})
    done = cli(root, "repro")
    assert done.code == 1
    assert (
        "The output paths: 'data/imgs'('data/imgs.dvc') 'data/imgs/b'('s1') overlap and are "
        "thus in the same tracked directory." in done.err
    )
    assert (root / "data" / "imgs" / "b").read_text() == "2\n"  # the tracked data is untouched
    gen(root, {"dvc.yaml": _one_stage("echo 3 > data/data.xml", "data/data.xml")})
    same = pd(root, "status")
    assert same.returncode == 1
    assert "output 'data/data.xml' is specified in: - data/data.xml.dvc - s1" in same.stderr
    assert (root / "data" / "data.xml").read_text() == "x\n"
