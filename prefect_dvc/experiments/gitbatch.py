"""Bulk, read-only access to a Git repository's objects and refs.

Provides:
    GitBatch: one long-lived ``git cat-file --batch`` process; ask for many
        ``<rev>:<path>`` blobs (or commit objects) and get bytes or ``None``.
        A context manager, so the process is always reaped.
    RefEntry, list_refs(root, prefixes): every ref under ``prefixes`` with its
        peeled commit and whether it is the checked-out branch, in one
        ``git for-each-ref`` call.
    CommitInfo, log_commits(root, revs, ...): commit SHA, committer time and
        parents for many commits in one ``git log`` call.
    run_git(root, *args): a single git call with a useful error.

Why: ``exp show`` reads a few files from every experiment commit. One
subprocess per file would cost ~2 ms each, so 1,000 experiments would take
seconds; through one cat-file process and two bulk calls they take well
under a second.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

from prefect_dvc.errors import GitError


def run_git(root: Path, *args: str, stdin: str | None = None) -> str:
    """Run ``git <args>`` in ``root`` (feeding ``stdin``) and return stdout.

    Raises:
        GitError: naming the command and git's own complaint.
    """
    proc = subprocess.run(
        ["git", *args], cwd=root, input=stdin, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        detail = proc.stderr.strip().splitlines()
        raise GitError(
            f"'git {args[0]}' failed: {detail[-1] if detail else proc.returncode}",
            path=str(root),
            hint="Check that this is a Git repository and that the revision exists",
        )
    return proc.stdout


@dataclass(frozen=True)
class Blob:
    """An object read through :class:`GitBatch`: its SHA (for caching) and bytes."""

    sha: str
    kind: str
    content: bytes


class GitBatch:
    """A ``git cat-file --batch`` process for reading many objects fast.

    Use as a context manager. ``read_many`` pipelines its requests through a
    writer thread, because git answers as it reads and a large batch would
    otherwise fill both pipes and deadlock.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._proc = subprocess.Popen(
            ["git", "cat-file", "--batch"],
            cwd=root,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )

    def __enter__(self) -> GitBatch:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the pipes and wait for git to exit."""
        proc = self._proc
        if proc.stdin and not proc.stdin.closed:
            proc.stdin.close()
        proc.wait(timeout=30)
        if proc.stdout:
            proc.stdout.close()

    def read(self, spec: str) -> Blob | None:
        """Read one object (``<rev>:<path>``, a SHA, ``<rev>^{commit}``)."""
        return self.read_many([spec])[0]

    def read_many(self, specs: Sequence[str]) -> list[Blob | None]:
        """Read ``specs`` in order; a missing or ambiguous object gives ``None``."""
        for spec in specs:
            if "\n" in spec:
                raise GitError(f"object name {spec!r} contains a newline", hint="Rename the file")
        stdin, stdout = self._proc.stdin, self._proc.stdout
        assert stdin is not None and stdout is not None
        payload = "".join(f"{spec}\n" for spec in specs).encode("utf-8", "surrogateescape")
        writer = threading.Thread(target=_write_all, args=(stdin, payload), daemon=True)
        writer.start()
        try:
            return [_read_answer(stdout) for _ in specs]
        finally:
            writer.join()


def _write_all(stream: IO[bytes], payload: bytes) -> None:
    stream.write(payload)
    stream.flush()


def _read_answer(stdout: IO[bytes]) -> Blob | None:
    header = stdout.readline().decode("utf-8", "surrogateescape").rstrip("\n")
    parts = header.split(" ")
    if len(parts) != 3 or parts[1] in ("missing", "ambiguous"):
        # NOTE: "<name> missing" / "<name> ambiguous" carry no content to skip.
        if not header:
            raise GitError("git cat-file stopped answering", hint="Check the repository")
        return None
    sha, kind, size = parts
    content = stdout.read(int(size))
    stdout.read(1)  # the newline after the content
    return Blob(sha=sha, kind=kind, content=content)


@dataclass(frozen=True)
class RefEntry:
    """A ref, the commit it points at (tags peeled) and whether HEAD is on it."""

    ref: str
    commit: str
    is_head: bool


def list_refs(root: Path, prefixes: Iterable[str]) -> list[RefEntry]:
    """All refs under ``prefixes`` (``refs/exps``, ``refs/heads``…) in one call."""
    out = run_git(
        root,
        "for-each-ref",
        "--format=%(objectname)%00%(*objectname)%00%(HEAD)%00%(refname)",
        *prefixes,
    )
    entries = []
    for line in out.splitlines():
        obj, peeled, head, ref = line.split("\0", 3)
        entries.append(RefEntry(ref=ref, commit=peeled or obj, is_head=head == "*"))
    return entries


@dataclass(frozen=True)
class CommitInfo:
    """What ``exp show`` needs of a commit: its time (epoch seconds) and parents."""

    sha: str
    timestamp: int
    parents: tuple[str, ...]


def log_commits(
    root: Path,
    revs: Sequence[str],
    *,
    no_walk: bool = False,
    first_parent: bool = False,
    max_count: int | None = None,
    exclude: Sequence[str] = (),
    options: Sequence[str] = (),
) -> list[CommitInfo]:
    """Commits listed by one ``git log`` call, in git's order.

    ``no_walk`` lists only ``revs`` themselves; otherwise history is walked
    (``first_parent``, ``max_count``) and stops at anything reachable from
    ``exclude``. ``options`` are extra fixed flags such as ``--all``.
    """
    if not revs and not options:
        return []
    args = ["log", "--format=%H %ct %P"]
    if no_walk:
        args.append("--no-walk=unsorted")
    if first_parent:
        args.append("--first-parent")
    if max_count is not None:
        args.append(f"--max-count={max_count}")
    args.extend(options)
    for rev in (*revs, *exclude):
        if rev.startswith("-") or "\n" in rev:
            raise GitError(f"invalid revision {rev!r}", hint="Pass a commit, branch or tag name")
    # NOTE: revisions go through --stdin so thousands of tips never hit ARG_MAX.
    lines = [*revs, *(f"^{rev}" for rev in exclude)]
    out = run_git(root, *args, "--stdin", stdin="".join(f"{line}\n" for line in lines))
    infos = []
    for line in out.splitlines():
        sha, stamp, *parents = line.split(" ")
        infos.append(
            CommitInfo(sha=sha, timestamp=int(stamp), parents=tuple(p for p in parents if p))
        )
    return infos
