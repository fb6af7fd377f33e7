"""Keep cached outs out of Git, the way DVC does, in the same bytes.

Provides:
    ignore_entry(root, repo_path): the ``.gitignore`` file and the line DVC
        writes for an out.
    is_ignored(root, repo_path): whether Git already ignores the path.
    IgnoreWriter: adds the lines of many stages finishing in any order, so
        that every ``.gitignore`` ends byte-identical to DVC's serial run.
    ensure_ignored(root, repo_path): one out, outside a pipeline run.

DVC (``scmrepo.git.Git.ignore``) writes one anchored, escaped entry per
cached out into the ``.gitignore`` of the folder that holds it
(``models/.gitignore`` gets ``/logreg.json``), appending to the end of the
file, and writes nothing when Git already ignores the path. DVC runs stages
one by one in plan order, so its lines end up in plan order after whatever
the file held before. Stages here finish in any order; the writer therefore
remembers each file as it was when the run first touched it and rewrites it
as that text plus the lines added by this run, sorted by plan position.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from pathspec.patterns import GitWildMatchPattern

GITIGNORE = ".gitignore"

_lock = threading.Lock()


def ignore_entry(root: Path, repo_path: str) -> tuple[str, Path]:
    """``(line, .gitignore path)`` for the out at ``repo_path`` (POSIX, relative to ``root``).

    The line is ``/<name>`` with Git's wildcard characters escaped, as DVC's
    ``GitWildMatchPattern.escape`` does, so ``a[1].txt`` is written ``/a\\[1\\].txt``.
    """
    rel = PurePosixPath(repo_path)
    entry = "/" + GitWildMatchPattern.escape(rel.name)
    return entry, root.joinpath(*rel.parent.parts, GITIGNORE)


def is_ignored(root: Path, repo_path: str) -> bool:
    """Whether Git's ignore rules already cover ``repo_path``, tracked or not.

    DVC asks dulwich's ignore manager, which does not look at the index;
    ``git check-ignore --no-index`` answers the same question. Outside a Git
    repository nothing is ignored.
    """
    done = subprocess.run(
        ["git", "check-ignore", "--no-index", "-q", "--", repo_path],
        cwd=root,
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


@dataclass
class _Pending:
    """One ``.gitignore`` during a run: its text before the run and the lines added."""

    baseline: str
    added: dict[str, tuple[int, int]] = field(default_factory=dict)
    written: str | None = None

    def refresh(self, current: str) -> None:
        """Someone else changed the file since we wrote it: keep their lines in place."""
        if self.written is not None and current != self.written:
            lines = current.splitlines(keepends=True)
            self.baseline = "".join(x for x in lines if x.rstrip("\n") not in self.added)

    def has(self, entry: str) -> bool:
        return entry in self.added or entry in self.baseline.splitlines()

    def render(self) -> str:
        text = self.baseline
        if text and not text.endswith("\n"):
            text += "\n"
        lines = sorted(self.added, key=self.added.__getitem__)
        return text + "".join(line + "\n" for line in lines)


class IgnoreWriter:
    """Adds ``.gitignore`` lines for one pipeline run; safe to share between threads.

    Args:
        root: the repository root.
        order: stage names in plan order (:meth:`Pipeline.order`); a stage's
            lines go after those of the stages before it in the plan, as in
            DVC's serial run, whichever finishes first.
    """

    def __init__(self, root: Path, order: Sequence[str]) -> None:
        self.root = root
        self._rank = {name: i for i, name in enumerate(order)}
        self._files: dict[Path, _Pending] = {}
        self._lock = threading.Lock()

    def ignore_outs(self, stage: str, repo_paths: Sequence[str]) -> list[Path]:
        """Ignore the cached outs ``repo_paths`` of ``stage``; returns the files changed."""
        rank = self._rank.get(stage, len(self._rank))
        changed: list[Path] = []
        with self._lock:
            for index, repo_path in enumerate(repo_paths):
                entry, gitignore = ignore_entry(self.root, repo_path)
                current = _read(gitignore)
                pending = self._files.setdefault(gitignore, _Pending(current))
                pending.refresh(current)
                if pending.has(entry) or is_ignored(self.root, repo_path):
                    continue
                pending.added[entry] = (rank, index)
                pending.written = pending.render()
                gitignore.parent.mkdir(parents=True, exist_ok=True)
                gitignore.write_text(pending.written, encoding="utf-8")
                changed.append(gitignore)
        return changed


def ensure_ignored(root: Path, repo_path: str) -> bool:
    """Append the line of one out (DVC's ``scm.ignore``); ``True`` if a line was added."""
    entry, gitignore = ignore_entry(root, repo_path)
    with _lock:
        text = _read(gitignore)
        if entry in text.splitlines() or is_ignored(root, repo_path):
            return False
        pending = _Pending(text, {entry: (0, 0)})
        gitignore.parent.mkdir(parents=True, exist_ok=True)
        gitignore.write_text(pending.render(), encoding="utf-8")
        return True


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else ""
