"""The one Git backend of prefect-dvc: the ``git`` command line.

Provides:
    Git: a thin wrapper over ``git`` run in one repository, with the handful of
        queries and ref operations the experiment modules need.
    ZERO_SHA: the all-zero object id Git uses for "this ref must not exist".
    check_remote(remote): refuse a Git remote (name or URL) that Git could
        read as an option or that runs a command (``ext::``).

Why the CLI and not gitpython or dulwich: every operation we need is one
plumbing command whose behaviour Git documents and keeps stable
(``update-ref`` compare-and-swap, ``commit-tree``, a private
``GIT_INDEX_FILE``), hooks and filters behave exactly as for the user's own
``git``, and there is no second backend to dispatch to (STYLE.md §6.1).
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from prefect_dvc.errors import GitError
from prefect_dvc.redact import redact, redact_args

logger = logging.getLogger(__name__)

ZERO_SHA = "0" * 40

_DEFAULT_HINT = "Fix what Git reports above, then retry"
# NOTE: transports that run a command given in the URL itself.
_COMMAND_TRANSPORTS = ("ext::", "fd::")


def check_remote(remote: str) -> str:
    """Return ``remote`` if it can safely be given to ``git push/fetch/ls-remote/clone``.

    Call sites also pass ``--end-of-options`` (or ``--``); this check is the
    second lock and gives a clear message instead of Git's.

    Raises:
        GitError: empty, starts with ``-`` (Git would read it as an option such
            as ``--upload-pack=<command>``), holds a control character, or uses
            a command-running transport (``ext::``, ``fd::``).
    """
    problem = None
    if not remote.strip():
        problem = "it is empty"
    elif remote.startswith("-"):
        problem = "it starts with '-' and would be read as an option"
    elif any(ord(ch) < 32 or ord(ch) == 127 for ch in remote):
        problem = "it contains a control character"
    elif remote.lower().startswith(_COMMAND_TRANSPORTS):
        problem = "its transport runs a command"
    if problem:
        shown = remote if len(remote) <= 80 else remote[:77] + "..."
        raise GitError(
            f"'{shown}' is not a usable Git remote: {problem}",
            hint="Pass a remote name from 'git remote -v' or an https://, ssh:// or file:// URL",
        )
    return remote


@dataclass(frozen=True)
class Git:
    """``git`` run with ``root`` as its working directory.

    Args:
        root: the top of the work tree (where ``.git`` is).
    """

    root: Path

    def run(
        self,
        *args: str,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
        hint: str | None = None,
    ) -> str:
        """Run ``git <args>`` and return its stdout without trailing newlines.

        ``env`` is added to (not substituted for) the process environment, so
        the user's identity and config still apply. A failure becomes one
        :class:`GitError` line naming the command and Git's own words; ``hint``
        says what to do (a generic hint otherwise).
        """
        proc = self._proc(args, input=input, env=env)
        if proc.returncode != 0:
            raise self._error(args, proc, hint)
        return proc.stdout.rstrip("\n")

    def _proc(
        self,
        args: Sequence[str],
        *,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        full_env = {**os.environ, **env} if env else None
        logger.debug("git %s (in %s)", shlex.join(redact_args(args)), self.root)
        try:
            return subprocess.run(
                ["git", *args],
                cwd=self.root,
                input=input,
                env=full_env,
                capture_output=True,
                text=True,
                check=False,
            )
        except FileNotFoundError as exc:  # no git executable, or no root
            raise GitError(
                f"cannot run 'git' in {self.root}: {exc.strerror}",
                hint="Install Git and check that the repository folder exists",
            ) from exc

    def _error(
        self, args: Sequence[str], proc: subprocess.CompletedProcess[str], hint: str | None
    ) -> GitError:
        said = " ".join((proc.stderr or proc.stdout).split()) or f"exit status {proc.returncode}"
        # NOTE: Git echoes remote URLs (with any token in them) in its errors.
        return GitError(
            f"`git {shlex.join(redact_args(args))}` failed in {self.root}: {redact(said)}",
            hint=hint or _DEFAULT_HINT,
        )

    def try_rev_parse(self, rev: str) -> str | None:
        """The full SHA of the commit ``rev`` names, or ``None`` if it names none."""
        proc = self._proc(
            ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"]
        )
        return proc.stdout.strip() if proc.returncode == 0 else None

    def rev_parse(self, rev: str) -> str:
        """The full SHA of the commit ``rev`` names; :class:`GitError` if none."""
        sha = self.try_rev_parse(rev)
        if sha is None:
            raise GitError(
                f"'{rev}' is not a commit in {self.root}",
                hint="Check the name with 'git log --oneline --all'",
            )
        return sha

    def head_commit(self) -> str:
        """The SHA of ``HEAD``; an error in a repository without commits."""
        sha = self.try_rev_parse("HEAD")
        if sha is None:
            raise GitError(
                f"the Git repository in {self.root} has no commits yet",
                hint="Make a first commit ('git add -A && git commit -m init'), then retry",
            )
        return sha

    def current_branch(self) -> str | None:
        """The short name of the checked-out branch, ``None`` when HEAD is detached."""
        proc = self._proc(["symbolic-ref", "--quiet", "--short", "HEAD"])
        return proc.stdout.strip() if proc.returncode == 0 else None

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """Whether ``ancestor`` is reachable from ``descendant`` (a commit is its own)."""
        args = ["merge-base", "--is-ancestor", "--end-of-options", ancestor, descendant]
        proc = self._proc(args)
        if proc.returncode in (0, 1):
            return proc.returncode == 0
        raise self._error(args, proc, None)

    def update_ref(
        self, ref: str, new: str, old: str | None = None, *, message: str | None = None
    ) -> None:
        """Point ``ref`` at ``new``; with ``old`` only if it still points there.

        ``old=ZERO_SHA`` means "only if the ref does not exist yet". This is
        the compare-and-swap that keeps two writers from silently overwriting
        each other.
        """
        args = ["update-ref", *(["-m", message] if message else []), ref, new]
        self.run(
            *args,
            *([old] if old is not None else []),
            hint=f"Another process may have changed {ref}; check it with 'git show-ref' and retry",
        )

    def delete_ref(self, ref: str, old: str | None = None) -> None:
        """Delete ``ref``; with ``old`` only if it still points there."""
        self.run("update-ref", "-d", ref, *([old] if old is not None else []))

    def update_refs(self, commands: Sequence[str]) -> None:
        """Apply ``update-ref --stdin`` commands (``create``/``update``/``delete``) atomically.

        Either every ref changes or none does.
        """
        if commands:
            self.run(
                "update-ref",
                "--stdin",
                input="".join(f"{cmd}\n" for cmd in commands),
                hint="No ref was changed. Another process may have moved one; retry",
            )

    def for_each_ref(self, prefix: str) -> list[tuple[str, str]]:
        """Every ``(ref, sha)`` under ``prefix``, sorted by ref name, in one call."""
        out = self.run("for-each-ref", "--format=%(refname) %(objectname)", prefix)
        pairs = []
        for line in out.splitlines():
            ref, _, sha = line.rpartition(" ")
            pairs.append((ref, sha))
        return pairs

    def status_porcelain(self) -> str:
        """``git status --porcelain`` output: the user's state as Git sees it.

        Run without optional locks, so it does not rewrite the user's index.
        """
        return self.run(
            "status", "--porcelain", "--untracked-files=all", env={"GIT_OPTIONAL_LOCKS": "0"}
        )

    def work_tree(self) -> tuple[Git, str]:
        """``(Git at the top of the work tree, this folder's prefix in it)``.

        A DVC project made with ``dvc init --subdir`` lives in a folder of its
        Git repository: its files are ``proj/params.yaml`` in Git's trees,
        and DVC's experiment commits and ``exp apply`` work on the whole tree
        (``git add --update`` reaches files outside the project too). The
        prefix is ``""`` at the top, else the POSIX folder with a trailing ``/``.

        Raises:
            GitError: ``root`` is not inside a Git work tree.
        """
        top, _, prefix = self.run("rev-parse", "--show-toplevel", "--show-prefix").partition("\n")
        if not prefix:
            return self, ""
        return Git(Path(top)), prefix.strip()
