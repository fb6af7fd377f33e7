"""A byte-exact picture of folders, to prove a refused command changed nothing.

Kept beside ``helpers.py`` (import it with ``from snapshots import tree_snapshot``).
"""

from __future__ import annotations

import os
from pathlib import Path

Snapshot = dict[str, tuple[str, bytes | str | None]]


def tree_snapshot(*roots: Path) -> Snapshot:
    """Every file, folder and symlink under ``roots`` (``.git`` included) with its content.

    Files map to their bytes and mode, symlinks to their target (never
    followed), folders to ``None``; keys are ``<root index>:<relative path>``.
    ``.dvc/tmp`` is left out: it is DVC's own transient state (the repository
    lock and rwlock files every DVC command writes there, the state DB), not
    the user's files.
    """
    found: Snapshot = {}
    for index, root in enumerate(roots):
        for folder, dirs, files in os.walk(root, followlinks=False):
            if Path(folder) == root / ".dvc":
                dirs[:] = [d for d in dirs if d != "tmp"]
            for name in dirs + files:
                path = Path(folder) / name
                key = f"{index}:{path.relative_to(root).as_posix()}"
                if path.is_symlink():
                    found[key] = ("link", os.readlink(path))
                elif path.is_dir():
                    found[key] = ("dir", None)
                else:
                    mode = oct(path.stat().st_mode)
                    found[key] = (f"file {mode}", path.read_bytes())
    return found
