"""``status`` of import ``.dvc`` files: our verdict rendered as DVC prints it, against real DVC."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import gen, git, run_dvc

from prefect_dvc.cli.status_text import UP_TO_DATE, status_lines
from prefect_dvc.dvcfile import find_dvcfiles, load_dvcfile
from prefect_dvc.imports.repo import ImportOptions, import_repo
from prefect_dvc.imports.status import frozen_warning, import_status
from prefect_dvc.imports.url import ImportUrlOptions, import_url

pytestmark = pytest.mark.dvc_interop


def _ours(root: Path) -> tuple[list[str], list[str]]:
    """(stdout lines, warning lines) our import status gives, in DVC's order."""
    data: dict = {}
    warnings = []
    for name in find_dvcfiles(root):
        dvc = load_dvcfile(root, name)
        data.update(import_status(root, dvc))
        warning = frozen_warning(dvc)
        if warning:
            warnings.append(warning)
    return status_lines(data) or [UP_TO_DATE], warnings


def _blocks(lines: list[str]) -> dict[str, list[str]]:
    """Each file's lines (DVC lists the files in its graph's order, not sorted)."""
    blocks: dict[str, list[str]] = {}
    current = ""
    for line in lines:
        if not line.startswith("\t"):
            current = line
        blocks.setdefault(current, []).append(line)
    return blocks


def _theirs(root: Path) -> tuple[list[str], list[str]]:
    done = run_dvc(root, "status")
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines(), sorted(done.stderr.splitlines())


def test_import_status_matches_dvc_up_to_date_then_changed(git_repo: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    gen(src, {"code.py": "v1\n"})
    git(src, "init", "-q", "-b", "main")
    git(src, "add", "-A")
    git(src, "commit", "-q", "-m", "v1")
    gen(tmp_path, {"raw.csv": "a\n", "other.csv": "b\n"})
    import_url(git_repo, str(tmp_path / "raw.csv"), "raw.csv", ImportUrlOptions(), cwd=git_repo)
    import_url(git_repo, str(tmp_path / "other.csv"), "o.csv", ImportUrlOptions(), cwd=git_repo)
    import_repo(git_repo, str(src), "code.py", ImportOptions(), cwd=git_repo)
    import_url(git_repo, "../ne.csv", None, ImportUrlOptions(no_exec=True), cwd=git_repo)

    ours, theirs = _ours(git_repo), _theirs(git_repo)
    assert _blocks(ours[0]) == _blocks(theirs[0]) and sorted(ours[1]) == theirs[1]
    assert "ne.csv.dvc:" in ours[0] and len(ours[1]) == 3

    gen(src, {"code.py": "v2\n"})
    git(src, "commit", "-q", "-am", "v2")  # the repository import has an update
    gen(tmp_path, {"raw.csv": "changed\n"})  # frozen: not reported
    (git_repo / "raw.csv").unlink()
    gen(git_repo, {"o.csv": "edited\n"})

    ours, theirs = _ours(git_repo), _theirs(git_repo)
    assert _blocks(ours[0]) == _blocks(theirs[0]) and sorted(ours[1]) == theirs[1]
    assert "\t\tupdate available:   code.py (" in "\n".join(ours[0])
