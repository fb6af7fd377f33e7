"""``isexec`` end to end, against real DVC 3.67.1 on twin repositories.

DVC writes ``isexec: true`` for executable file deps and outs in
``dvc.lock`` and run-cache entries (not in ``.dir`` manifests), hashes it
into the run-cache key, ignores it in ``status``, and sets the owner
execute bit again on checkout and run-cache restore. Each test runs the
same project through both tools and compares bytes, names and modes.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

from helpers import gen, git, run_dvc

GEN_SH = """#!/bin/sh
echo ran >> ran.log
printf 'hello\\n' > out.sh
chmod 755 out.sh
mkdir -p outdir
printf 'x\\n' > outdir/run.sh
chmod 755 outdir/run.sh
printf 'y\\n' > outdir/plain.txt
"""

DVC_YAML = """stages:
  gen:
    cmd: ./gen.sh
    deps:
    - gen.sh
    - data.txt
    outs:
    - out.sh
    - outdir
"""


def _project(root: Path, cache_type: str | None = None) -> Path:
    gen(root, {"gen.sh": GEN_SH, "data.txt": "data\n", "dvc.yaml": DVC_YAML})
    (root / "gen.sh").chmod(0o755)
    if cache_type:
        (root / ".dvc" / "config").write_text(f"[cache]\n    type = {cache_type}\n")
    gen(root, {".gitignore": "ran.log\n"})
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "project")
    return root


def _twin(repo: Path) -> Path:
    twin = repo.parent / "twin"
    shutil.copytree(repo, twin, symlinks=True)
    return twin


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _runs(root: Path) -> list[str]:
    base = root / ".dvc" / "cache" / "runs"
    return sorted(str(p.relative_to(base)) for p in base.rglob("*") if p.is_file())


def _manifests(root: Path) -> dict[str, bytes]:
    base = root / ".dvc" / "cache" / "files" / "md5"
    return {str(p.relative_to(base)): p.read_bytes() for p in base.rglob("*.dir")}


def _ran(root: Path) -> int:
    log = root / "ran.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_lock_run_cache_and_manifests_are_dvcs_bytes(git_repo: Path, cli) -> None:
    ours = _project(git_repo)
    theirs = _twin(ours)
    assert cli(ours, "repro").code == 0
    dvc = run_dvc(theirs, "repro")
    assert dvc.returncode == 0, dvc.stderr

    lock = (ours / "dvc.lock").read_text()
    assert lock == (theirs / "dvc.lock").read_text()
    # the executable dep and file out carry it, after size; the plain dep and the dir do not
    assert lock.count("isexec: true") == 2
    assert "size: 6\n      isexec: true\n" in lock
    assert _runs(ours) == _runs(theirs)
    assert _manifests(ours) == _manifests(theirs)
    assert all(b"isexec" not in data for data in _manifests(ours).values())


def test_status_is_clean_across_tools_and_ignores_the_bit(git_repo: Path, cli) -> None:
    ours = _project(git_repo)
    theirs = _twin(ours)
    assert cli(ours, "repro").code == 0
    assert run_dvc(theirs, "repro").returncode == 0

    assert json.loads(run_dvc(ours, "status", "--json").stdout) == {}
    status = cli(theirs, "status", "--json")
    assert status.code == 0 and json.loads(status.out) == {}

    # DVC's status compares hashes only: a lost execute bit is no change
    for root in (ours, theirs):
        (root / "gen.sh").chmod(0o644)
        (root / "out.sh").chmod(0o644)
    assert json.loads(run_dvc(ours, "status", "--json").stdout) == {}
    assert json.loads(cli(ours, "status", "--json").out) == {}


def test_our_run_cache_entry_restores_under_dvc(git_repo: Path, cli) -> None:
    repo = _project(git_repo)
    assert cli(repo, "repro").code == 0
    lock = (repo / "dvc.lock").read_bytes()
    for path in ("out.sh", "outdir", "dvc.lock"):
        shutil.rmtree(repo / path) if path == "outdir" else (repo / path).unlink()

    dvc = run_dvc(repo, "repro")
    assert dvc.returncode == 0, dvc.stderr
    assert "is cached - skipping run" in dvc.stdout
    assert _ran(repo) == 1
    assert (repo / "dvc.lock").read_bytes() == lock
    assert _mode(repo / "out.sh") & stat.S_IXUSR


def test_dvcs_run_cache_entry_restores_under_ours_with_its_modes(git_repo: Path, cli) -> None:
    ours = _project(git_repo)
    theirs = _twin(ours)
    assert run_dvc(ours, "repro").returncode == 0
    assert run_dvc(theirs, "repro").returncode == 0
    lock = (ours / "dvc.lock").read_bytes()
    for root in (ours, theirs):
        (root / "out.sh").unlink()
        shutil.rmtree(root / "outdir")
        (root / "dvc.lock").unlink()

    result = cli(ours, "repro")
    assert result.code == 0, result.err
    assert "restored from run-cache" in result.out + result.err
    assert _ran(ours) == 1
    assert (ours / "dvc.lock").read_bytes() == lock
    assert run_dvc(theirs, "repro").returncode == 0
    # DVC restores out.sh as 0644 | u+x and the manifest's files without the bit
    for rel in ("out.sh", "outdir/run.sh", "outdir/plain.txt"):
        assert _mode(ours / rel) == _mode(theirs / rel), rel
    assert _mode(ours / "out.sh") == 0o744
    assert not _mode(ours / "outdir/run.sh") & stat.S_IXUSR


def test_checkout_sets_the_bit_back_as_dvc_does(git_repo: Path, cli) -> None:
    ours = _project(git_repo)
    theirs = _twin(ours)
    assert cli(ours, "repro").code == 0
    assert run_dvc(theirs, "repro").returncode == 0
    for root in (ours, theirs):
        (root / "out.sh").unlink()
    assert cli(ours, "checkout").code == 0
    assert run_dvc(theirs, "checkout").returncode == 0
    assert _mode(ours / "out.sh") == _mode(theirs / "out.sh") == 0o744

    # content in place but the bit lost: DVC reports it modified and only chmods it
    inode = os.stat(ours / "out.sh").st_ino
    for root in (ours, theirs):
        (root / "out.sh").chmod(0o644)
    result = cli(ours, "checkout")
    dvc = run_dvc(theirs, "checkout")
    assert "out.sh" in dvc.stdout and "out.sh" in result.out
    assert _mode(ours / "out.sh") == _mode(theirs / "out.sh") == 0o744
    assert os.stat(ours / "out.sh").st_ino == inode


def test_hardlink_checkout_marks_the_shared_object_as_dvc_does(git_repo: Path, cli) -> None:
    ours = _project(git_repo, cache_type="hardlink")
    theirs = _twin(ours)
    assert cli(ours, "repro").code == 0
    assert run_dvc(theirs, "repro").returncode == 0
    for root in (ours, theirs):
        (root / "out.sh").unlink()
    assert cli(ours, "checkout").code == 0
    assert run_dvc(theirs, "checkout").returncode == 0

    obj = Path(".dvc/cache/files/md5/b1/946ac92492d2347c6235b4d2611184")
    assert (ours / "out.sh").samefile(ours / obj)
    assert _mode(ours / "out.sh") == _mode(theirs / "out.sh") == 0o544
    assert _mode(ours / obj) == _mode(theirs / obj) == 0o544
    assert json.loads(run_dvc(ours, "status", "--json").stdout) == {}


def test_lock_with_a_non_boolean_isexec_is_refused_like_dvc(git_repo: Path, cli) -> None:
    repo = _project(git_repo)
    assert cli(repo, "repro").code == 0
    lock = repo / "dvc.lock"
    bad = lock.read_text().replace("isexec: true", "isexec: 'yes'", 1)
    lock.write_text(bad)
    out_bytes = (repo / "out.sh").read_bytes()

    assert run_dvc(repo, "status").returncode != 0
    result = cli(repo, "repro")
    assert result.code != 0
    message = result.err.strip().splitlines()
    assert len(message) == 1
    assert "dvc.lock" in message[0] and "stage 'gen'" in message[0] and "isexec" in message[0]
    assert lock.read_text() == bad
    assert (repo / "out.sh").read_bytes() == out_bytes
    assert _ran(repo) == 1
