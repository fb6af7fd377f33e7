"""Issue #10 §2: the same bytes whatever ``-j`` and whatever finishes first.

Twelve ``foreach`` stages sleep a random 0-0.3 s and write into one folder,
so under ``-j 8`` they finish in a different order each run; a downstream
stage depends on the folder, whose ``.dir`` hash covers the folder's
``.gitignore``. Every run must leave the tree, each ``.gitignore`` and
``dvc.lock`` byte-identical to real DVC's serial ``dvc repro`` of a copy.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from helpers import gen, git, run_dvc

from prefect_dvc.lockfile import read_lock

pytestmark = pytest.mark.prefect

SLEEP = f'{sys.executable} -c "import random, time; time.sleep(random.random() * 0.3)"'


def project(items: list[int], extra: str = "") -> dict[str, str]:
    """foreach ``gen`` -> folder ``out``; ``summary`` reads the folder; ``other`` is free.

    ``other`` comes last in ``dvc.yaml`` but does not depend on anything:
    DVC's plan (a depth-first post-order) puts it after ``summary``, a
    level-by-level order would put it before; the items pass 10, so a sort
    by name would put ``gen@10`` before ``gen@2``.
    """
    listed = ", ".join(str(i) for i in items)
    return {
        "dvc.yaml": f"""\
stages:
  gen:
    foreach: [{listed}]
    do:
      cmd: {SLEEP} && echo ${{item}} > out/${{item}}.txt
      outs:
      - out/${{item}}.txt
  summary:
    cmd: ls out > summary.txt
    deps: [out]
    outs: [summary.txt]
{extra}  other:
    cmd: echo other > other.txt
    outs: [other.txt]
""",
        "out/keep.md": "the folder exists before any stage writes into it\n",
    }


NEW_STAGE = """\
  late:
    cmd: cat summary.txt > late.txt
    deps: [summary.txt]
    outs: [late.txt]
"""


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file of the workspace but Git's and DVC's internals, as bytes."""
    skip = (".git", ".dvc")
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.relative_to(root).parts[0] not in skip
    }


def copy_of(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest, symlinks=True)
    return dest


def dvc_repro(root: Path) -> None:
    done = run_dvc(root, "repro")
    assert done.returncode == 0, done.stderr + done.stdout


def dir_md5(root: Path) -> str:
    [dep] = read_lock(root / "dvc.lock")["summary"]["deps"]
    return str(dep["md5"])


@pytest.fixture
def base(git_repo: Path) -> Path:
    gen(git_repo, project(list(range(1, 13))))
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "pipeline")
    return git_repo


def test_parallel_runs_from_scratch_match_dvc_serial_run(base: Path, cli, tmp_path: Path) -> None:
    reference = copy_of(base, tmp_path / "dvc")
    dvc_repro(reference)
    expected = snapshot(reference)
    assert expected["out/.gitignore"].decode().split() == [f"/{i}.txt" for i in range(1, 13)]
    assert list(read_lock(reference / "dvc.lock"))[-2:] == ["summary", "other"]

    for n, jobs in enumerate(["1", "8", "8"]):
        ours = copy_of(base, tmp_path / f"ours{n}")
        done = cli(ours, "repro", "-j", jobs, "--no-run-cache")
        assert done.code == 0, done.err + done.out
        got = snapshot(ours)
        assert got["out/.gitignore"] == expected["out/.gitignore"], f"-j {jobs}"
        assert got["dvc.lock"] == expected["dvc.lock"], f"-j {jobs}"
        assert got == expected, f"-j {jobs}"
        assert dir_md5(ours) == dir_md5(reference)
        status = run_dvc(ours, "status", "--json")
        assert status.stdout.strip() in ("{}", ""), status.stdout


def test_parallel_runs_over_an_existing_lock_match_dvc(base: Path, cli, tmp_path: Path) -> None:
    # NOTE: the lock and .gitignore of the first run exist; then items are
    # removed and added and a stage is added: DVC keeps what is there in place
    # (stale entries too) and appends the new entries in plan order.
    dvc_repro(base)
    git(base, "add", "-A")
    git(base, "commit", "-q", "-m", "first run")
    changed = project([3, 1, 14, 2, 4, 6, 7, 8, 9, 10, 11, 13, 12], extra=NEW_STAGE)
    gen(base, changed)
    (base / "out" / "5.txt").unlink()
    reference = copy_of(base, tmp_path / "dvc")
    dvc_repro(reference)
    expected = snapshot(reference)
    lines = expected["out/.gitignore"].decode().split()
    assert lines[-2:] == ["/14.txt", "/13.txt"], lines
    for n in range(2):
        ours = copy_of(base, tmp_path / f"ours{n}")
        done = cli(ours, "repro", "-j", "8")
        assert done.code == 0, done.err + done.out
        got = snapshot(ours)
        assert got["out/.gitignore"] == expected["out/.gitignore"]
        assert got["dvc.lock"] == expected["dvc.lock"]
        assert got == expected
        assert dir_md5(ours) == dir_md5(reference)


def test_targets_write_in_the_plan_of_the_selected_stages_as_dvc(
    git_repo: Path, cli, tmp_path: Path
) -> None:
    # NOTE: x pulls a ahead of b in the whole pipeline's plan, but x is not
    # selected: DVC's plan of {b, a} is b then a.
    stages = "".join(
        f"  {name}:\n    cmd: {SLEEP} && echo {name} > {name}.txt\n{deps}"
        f"    outs:\n    - {name}.txt\n"
        for name, deps in [("x", "    deps:\n    - a.txt\n"), ("b", ""), ("a", "")]
    )
    gen(git_repo, {"dvc.yaml": "stages:\n" + stages})
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "pipeline")
    reference = copy_of(git_repo, tmp_path / "dvc")
    done = run_dvc(reference, "repro", "b", "a")
    assert done.returncode == 0, done.stderr + done.stdout
    expected = snapshot(reference)
    assert expected[".gitignore"] == b"/b.txt\n/a.txt\n"
    ran = cli(git_repo, "repro", "b", "a", "-j", "2")
    assert ran.code == 0, ran.err + ran.out
    assert snapshot(git_repo) == expected
