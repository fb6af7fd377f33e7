"""Keep cached outs out of Git, the way DVC does, in the same bytes.

Provides:
    ignore_entry(root, repo_path): the ``.gitignore`` file and the line DVC
        writes for an out.
    is_ignored(root, repo_path): whether Git already ignores the path.
    IgnoreChecker: the same question for many paths, through one process.
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

import contextlib
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

from pathspec.patterns import GitWildMatchPattern

from prefect_dvc.safety import check_write_target
from prefect_dvc.yamlio import atomic_write

GITIGNORE = ".gitignore"

_lock = threading.Lock()


def ignore_entry(root: Path, repo_path: str) -> tuple[str, Path]:
    """``(line, .gitignore path)`` for the out at ``repo_path`` (POSIX, relative to ``root``).

    The line is ``/<name>`` with Git's wildcard characters escaped, as DVC's
    ``GitWildMatchPattern.escape`` does, so ``a[1].txt`` is written ``/a\\[1\\].txt``.

    Raises:
        UnsafePathError: the ``.gitignore`` would land outside the repository
            or in ``.git``/``.dvc`` (``prefect_dvc/safety.py``).
    """
    rel = PurePosixPath(repo_path)
    entry = "/" + GitWildMatchPattern.escape(rel.name)
    # NOTE: a command may have made the out's folder a symlink leaving the
    # repository since the pipeline loaded; the .gitignore must not follow it.
    return entry, check_write_target(root, (rel.parent / GITIGNORE).as_posix())


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


class IgnoreChecker:
    """:func:`is_ignored` for many paths through one ``git check-ignore --stdin``.

    A subprocess per out cost ~10 ms on a loaded machine (2 s for a
    200-stage ``foreach``); one long-lived process answers in microseconds.
    Git reads each folder's ``.gitignore`` once, so rules edited during the
    run are not seen; the lines the run adds never cover another out
    (outs do not overlap), so the answers match DVC's serial checks. Not
    thread-safe: :class:`IgnoreWriter` calls it under its lock.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._proc: subprocess.Popen[bytes] | None = None
        self._dead = False

    def __call__(self, repo_path: str) -> bool:
        proc = self._start()
        if proc is None or proc.stdin is None or proc.stdout is None:
            return False
        try:
            proc.stdin.write(repo_path.encode("utf-8") + b"\0")
            proc.stdin.flush()
            fields = [_read_field(proc.stdout) for _ in range(4)]
        except (BrokenPipeError, EOFError):  # no Git repository: nothing is ignored
            self.close()
            self._dead = True
            return False
        # NOTE: with -v a negated pattern ("!keep.log") is reported as the match.
        return bool(fields[2]) and not fields[2].startswith(b"!")

    def _start(self) -> subprocess.Popen[bytes] | None:
        if self._proc is None and not self._dead:
            self._proc = subprocess.Popen(
                ["git", "check-ignore", "--stdin", "-z", "--no-index", "-v", "-n"],
                cwd=self.root,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        return self._proc

    def close(self) -> None:
        """End the ``git`` process; the checker starts a new one if asked again."""
        proc, self._proc = self._proc, None
        if proc is not None:
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    with contextlib.suppress(BrokenPipeError):
                        stream.close()
            proc.wait()


def _read_field(stream: IO[bytes]) -> bytes:
    field = bytearray()
    while (char := stream.read(1)) != b"\0":
        if not char:
            raise EOFError
        field += char
    return bytes(field)


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
        self._ignored = IgnoreChecker(root)

    def close(self) -> None:
        """Stop the ``git check-ignore`` helper; call when the run is over."""
        with self._lock:
            self._ignored.close()

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
                if pending.has(entry) or self._ignored(repo_path):
                    continue
                pending.added[entry] = (rank, index)
                pending.written = pending.render()
                # NOTE: atomic, so a full disk leaves the old .gitignore, not half of it.
                atomic_write(gitignore, pending.written)
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
        atomic_write(gitignore, pending.render())
        return True


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else ""
