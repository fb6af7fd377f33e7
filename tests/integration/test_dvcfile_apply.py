"""``exp apply`` restores the experiment's ``.dvc``-tracked data, or refuses untouched."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import gen, git, run_dvc

pytestmark = [pytest.mark.prefect, pytest.mark.dvc_interop]

PIPELINE = {
    "dvc.yaml": "stages:\n  use:\n    cmd: cat data.txt > copy.txt\n    deps: [data.txt]\n"
    "    outs: [copy.txt]\n",
}


def _object(repo: Path, text: str) -> Path:
    import hashlib

    md5 = hashlib.md5(text.encode()).hexdigest()
    return repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]


def test_exp_apply_restores_the_experiments_dvcfile_data_or_refuses_untouched(
    git_repo: Path, tmp_path: Path, cli
) -> None:
    gen(git_repo, {"data.txt": "one\n", **PIPELINE})
    assert run_dvc(git_repo, "add", "-q", "data.txt").returncode == 0
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "data v1")
    (git_repo / "data.txt").write_text("two\n")
    assert run_dvc(git_repo, "add", "-q", "data.txt").returncode == 0
    ran = cli(git_repo, "exp", "run", "-n", "e2")
    assert ran.code == 0, ran.err
    git(git_repo, "checkout", "--", ".")
    back = cli(git_repo, "checkout")
    assert back.code == 0, back.err
    assert (git_repo / "data.txt").read_text() == "one\n"

    # The experiment's data.txt is in no cache and there is no remote: refused, nothing moves.
    v2 = _object(git_repo, "two\n")
    saved = shutil.copy2(v2, tmp_path / "v2")
    v2.chmod(0o644)
    v2.unlink()
    status = git(git_repo, "status", "--porcelain")
    refused = cli(git_repo, "exp", "apply", "e2")
    assert refused.code == 1
    assert "1 out(s)" in refused.err and "data.txt" in refused.err
    assert (git_repo / "data.txt").read_text() == "one\n"
    assert git(git_repo, "status", "--porcelain") == status

    shutil.copy2(saved, v2)
    applied = cli(git_repo, "exp", "apply", "e2")
    assert applied.code == 0, applied.err
    assert (git_repo / "data.txt").read_text() == "two\n"
    assert (git_repo / "copy.txt").read_text() == "two\n"
    assert run_dvc(git_repo, "status").stdout == "Data and pipelines are up to date.\n"
