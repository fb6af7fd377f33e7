"""Keep cached outs out of Git, the way DVC does.

Provides:
    ensure_ignored(root, repo_path): add ``/<name>`` to the ``.gitignore`` of
        the out's parent folder unless an identical line is already there.

DVC writes one anchored entry per cached out into the ``.gitignore`` of the
folder that holds it (``models/.gitignore`` gets ``/logreg.json``), so we do
the same and a project stays identical whichever tool ran last.
"""

from __future__ import annotations

import threading
from pathlib import Path, PurePosixPath

from prefect_dvc.yamlio import atomic_write

_lock = threading.Lock()


def ensure_ignored(root: Path, repo_path: str) -> bool:
    """Ignore ``repo_path`` (POSIX, relative to ``root``); ``True`` if a line was added."""
    rel = PurePosixPath(repo_path)
    entry = "/" + rel.name
    gitignore = root.joinpath(*rel.parent.parts, ".gitignore")
    with _lock:
        text = gitignore.read_text() if gitignore.exists() else ""
        if entry in text.splitlines():
            return False
        if text and not text.endswith("\n"):
            text += "\n"
        # NOTE: atomic, so a full disk leaves the old .gitignore, not half of it.
        atomic_write(gitignore, text + entry + "\n")
        return True
