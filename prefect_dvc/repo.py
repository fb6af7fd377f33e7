"""Where a project's files live.

Provides:
    find_root(start): the nearest folder upwards holding ``.dvc/``.
    RepoPaths: the fixed locations inside a project (``.dvc/cache``, the
        state DB, ``dvc.lock``...), computed from the root and nothing else.
    init_repo(root): create ``.dvc/`` as ``dvc init`` does.
    check_init_place(root, subdir): refuse ``init`` where DVC refuses it.

Every path-bearing module takes a ``RepoPaths`` (or the root) instead of
guessing from the current directory, so tests and deployments can point the
tool at any checkout.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from prefect_dvc.errors import ConfigError

DVC_DIR = ".dvc"


@dataclass(frozen=True)
class RepoPaths:
    """Fixed paths of one project, all absolute."""

    root: Path

    @property
    def dvc_dir(self) -> Path:
        return self.root / DVC_DIR

    @property
    def tmp_dir(self) -> Path:
        return self.dvc_dir / "tmp"

    @property
    def own_tmp(self) -> Path:
        """Our private scratch space, beside DVC's own files in ``.dvc/tmp``."""
        return self.tmp_dir / "prefect-dvc"

    @property
    def state_db(self) -> Path:
        return self.own_tmp / "state.db"

    @property
    def default_cache_dir(self) -> Path:
        return self.dvc_dir / "cache"

    def lock_path(self, dvcfile: str = "dvc.yaml") -> Path:
        """``dvc.lock`` sits next to its ``dvc.yaml``."""
        return self.root / Path(dvcfile).with_name("dvc.lock")

    def relative(self, path: Path) -> str:
        """``path`` relative to the root, POSIX spelling."""
        return path.resolve().relative_to(self.root).as_posix()


def find_root(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` that holds ``.dvc/``.

    Raises:
        ConfigError: when there is none, saying how to create one.
    """
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / DVC_DIR).is_dir():
            return folder
    raise ConfigError(
        f"'{here}' is not inside a DVC project (no .dvc folder found)",
        hint="Run 'prefect-dvc init' in the project root first",
    )


def locate_dvcfile(root: Path, cwd: Path | None = None) -> str:
    """The ``dvc.yaml`` a command means: the one in ``cwd`` if any, else the root's.

    As with DVC, running inside a sub-folder that has its own ``dvc.yaml``
    works on that pipeline.
    """
    here = (cwd or Path.cwd()).resolve()
    if here != root and (here / "dvc.yaml").is_file() and here.is_relative_to(root):
        return (here / "dvc.yaml").relative_to(root).as_posix()
    return "dvc.yaml"


_DVC_GITIGNORE = "/config.local\n/tmp\n/cache\n"


def init_repo(root: Path) -> bool:
    """Create ``.dvc/`` with the files ``dvc init`` writes; ``False`` if it existed.

    Only the parts DVC needs to recognise the project: an empty ``config``
    and a ``.gitignore`` keeping the cache, tmp and local config out of Git.
    """
    dvc_dir = root / DVC_DIR
    if dvc_dir.is_dir():
        return False
    dvc_dir.mkdir(parents=True)
    (dvc_dir / "config").write_text("")
    (dvc_dir / ".gitignore").write_text(_DVC_GITIGNORE)
    (root / ".dvcignore").touch(exist_ok=True)
    return True


def _git_top(folder: Path) -> Path | None:
    """The top of the Git work tree holding ``folder``, or ``None`` outside Git."""
    done = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    return Path(done.stdout.strip()).resolve() if done.returncode == 0 else None


def check_init_place(root: Path, subdir: bool) -> None:
    """Refuse ``init`` in ``root`` where ``dvc init`` refuses it (``dvc/repo/init.py``).

    ``--subdir`` needs a Git repository at or above ``root``. Without it, a
    folder inside a Git work tree must be its top (DVC opens Git at the
    folder itself); a folder outside Git is accepted (as ``--no-scm``).

    Raises:
        ConfigError: DVC's ``InitError`` text, which names ``--subdir``.
    """
    top = _git_top(root)
    if (top is None and not subdir) or (top is not None and (subdir or top == root.resolve())):
        return
    raise _NotInScm(
        f"failed to initiate DVC - {root} is not tracked by any supported SCM tool (e.g. Git). "
        "Use `--no-scm` if you don't want to use any SCM or `--subdir` if "
        "initializing inside a subdirectory of a parent SCM repository."
    )


class _NotInScm(ConfigError):
    """DVC's ``InitError`` word for word (it ends with its own full stop)."""

    def _format(self) -> str:
        return self.msg
