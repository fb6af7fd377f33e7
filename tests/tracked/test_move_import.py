"""`move` of an import keeps its deps and recomputes its stage md5, as `dvc move` does.

Found by a fresh user trial: moving an `import-url` out dropped the file's
`deps:`, so `update` then said "is not an import".
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import gen, git, run_dvc

CLI = str(Path(sys.executable).with_name("prefect-dvc"))


def _ours(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], cwd=repo, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    ("source_kind", "dst"),
    [("absolute", "b.txt"), ("absolute", "sub/b.txt"), ("relative", "c.txt")],
)
def test_moved_import_file_is_dvcs(
    git_repo: Path, tmp_path: Path, source_kind: str, dst: str
) -> None:
    outside = tmp_path / "src.txt"
    outside.write_text("source\n")
    gen(git_repo, {"inside/src.txt": "inside\n", "sub/.keep": ""})
    source = str(outside) if source_kind == "absolute" else "inside/src.txt"
    assert run_dvc(git_repo, "import-url", source, "a.txt").returncode == 0
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "import")
    twin = tmp_path / "twin"
    shutil.copytree(git_repo, twin, symlinks=True)
    moved = _ours(git_repo, "move", "a.txt", dst)
    assert moved.returncode == 0, moved.stderr
    assert run_dvc(twin, "move", "a.txt", dst).returncode == 0
    assert (git_repo / f"{dst}.dvc").read_text() == (twin / f"{dst}.dvc").read_text()
    assert not (git_repo / "a.txt.dvc").exists()
    status = run_dvc(git_repo, "status", f"{dst}.dvc")
    assert status.returncode == 0 and "changed" not in status.stdout, status.stdout
    assert _ours(git_repo, "update", f"{dst}.dvc").returncode == 0
