"""Twin repositories: the same files, one driven by real DVC 3.67.1, one by prefect-dvc.

Module-scoped fixtures build them once; tests only read them. The helpers
set their own HOME and Git identity because module-scoped fixtures run
outside the per-test isolation of ``conftest._isolate``.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from helpers import dvc_bin, gen

CLI = str(Path(sys.executable).with_name("prefect-dvc"))
_WORKTREE = str(Path(__file__).resolve().parents[1])


def env(home: Path) -> dict[str, str]:
    """A clean environment: no PREFECT_* settings, our package first on the path."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    base.update(
        HOME=str(home),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="Test User",
        GIT_AUTHOR_EMAIL="test@example.com",
        GIT_COMMITTER_NAME="Test User",
        GIT_COMMITTER_EMAIL="test@example.com",
        PYTHONPATH=_WORKTREE,
    )
    return base


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a command in ``cwd`` with :func:`env` (HOME beside the repository)."""
    return subprocess.run(
        list(args), cwd=cwd, capture_output=True, text=True, env=env(_home(cwd)), timeout=300
    )


def _home(cwd: Path) -> Path:
    for folder in (cwd, *cwd.parents):
        if (folder / ".dvc").is_dir():
            home = folder.parent / "home"
            home.mkdir(exist_ok=True)
            return home
    return cwd


def dvc(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run(cwd, dvc_bin(), *args)


def pd(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run(cwd, CLI, *args)


def make_repo(path: Path, files: Mapping[str, str | bytes], config: str = "") -> Path:
    """A Git repository with ``.dvc/`` as ``dvc init`` leaves it, one commit, then ``files``."""
    path.mkdir(parents=True)
    home = path.parent / "home"
    home.mkdir(exist_ok=True)
    for args in (["init", "-q", "-b", "main"],):
        subprocess.run(["git", *args], cwd=path, check=True, env=env(home))
    gen(path, {".dvc/config": config, ".dvc/.gitignore": "/config.local\n/tmp\n/cache\n"})
    gen(path, {".dvcignore": ""})
    subprocess.run(["git", "add", "-A"], cwd=path, check=True, env=env(home))
    subprocess.run(["git", "commit", "-q", "-m", "init"], cwd=path, check=True, env=env(home))
    gen(path, files)
    return path


def tree_state(root: Path) -> dict[str, tuple[int, str]]:
    """Every path under ``root`` but ``.git`` and DVC's tmp: (mode bits, content or link)."""
    state: dict[str, tuple[int, str]] = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in (".git", "tmp")]
        for name in files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            full = os.path.join(folder, name)
            rel = os.path.relpath(full, root)
            if rel.startswith(".dvc/cache/") and name.startswith(".") and name.endswith(".tmp"):
                continue  # NOTE: DVC's 'add -o' leaves its transfer temp file in the cache
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                state[rel] = (0, "-> " + os.readlink(full))
            elif not stat.S_ISREG(st.st_mode):
                state[rel] = (stat.S_IMODE(st.st_mode), "special")  # a FIFO is never read
            else:
                with open(full, "rb") as fobj:
                    state[rel] = (stat.S_IMODE(st.st_mode), fobj.read().hex())
    return state


def cache_listing(root: Path) -> dict[str, int]:
    """``files/md5/..`` objects of the local cache with their mode bits."""
    top = root / ".dvc" / "cache" / "files"
    return {
        p.relative_to(top).as_posix(): stat.S_IMODE(p.stat().st_mode)
        for p in sorted(top.rglob("*"))
        if p.is_file()
    }


def hint_paths(stdout: str) -> set[str]:
    """The paths of the ``git add`` line (DVC orders them by a set's hash order)."""
    lines = [line for line in stdout.splitlines() if line.startswith("\tgit add ")]
    assert len(lines) == 1, stdout
    return set(lines[0].removeprefix("\tgit add ").split())


def hint_shape(stdout: str) -> str:
    """The hint with the ``git add`` line's paths replaced, for a byte comparison."""
    return "\n".join(
        "\tgit add <paths>" if line.startswith("\tgit add ") else line
        for line in stdout.splitlines()
    )
