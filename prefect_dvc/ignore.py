"""``.dvcignore``: which files DVC leaves out when it hashes or checks out a directory.

Provides:
    DVCIGNORE: the file name.
    IgnoreRules: the rules in force inside one folder of a repository (the
        ``.dvcignore`` files from the root down to it, plus DVC's defaults),
        with :meth:`IgnoreRules.is_ignored` and :meth:`IgnoreRules.descend`.
    rules_for(root, folder): the rules in force in ``folder``; ``None`` when
        ``folder`` is outside ``root`` (DVC applies no ``.dvcignore`` there).

DVC's semantics (``dvc/ignore.py``, ``dvc/pathspec_math.py`` in 3.67.1),
which we follow: each line is a gitignore pattern (``pathspec``'s
``GitIgnoreSpecPattern``, the class DVC itself compiles them with) relative
to the folder holding that ``.dvcignore``; blank lines and ``#`` lines are
skipped; a deeper file's patterns win over a shallower one's, and within a
file the last matching pattern wins (``!`` re-includes); a pattern ending in
``/`` only matches folders; nothing under an ignored folder can be
re-included, and a ``.dvcignore`` inside an ignored folder is not read.
``.git``, ``.git/``, ``.hg/`` and ``.dvc/`` are always ignored.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pathspec.patterns.gitignore.spec import GitIgnoreSpecPattern

DVCIGNORE = ".dvcignore"
_DEFAULT_PATTERNS = (".hg/", ".git/", ".git", ".dvc/")


@dataclass(frozen=True)
class _Pattern:
    regex: re.Pattern[str]
    include: bool  # True: ignore the match; False: a ``!`` re-include
    dir_only: bool


@dataclass(frozen=True)
class _File:
    """The patterns of one ``.dvcignore``; ``base`` is its folder, POSIX, relative to the root."""

    base: str
    patterns: tuple[_Pattern, ...]


def _compile(lines: Sequence[str]) -> tuple[_Pattern, ...]:
    patterns = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        regex, include = GitIgnoreSpecPattern.pattern_to_regex(line)
        if regex is not None and include is not None:
            patterns.append(_Pattern(re.compile(regex), include, line.endswith("/")))
    return tuple(patterns)


@dataclass(frozen=True)
class IgnoreRules:
    """The ``.dvcignore`` rules in force in one folder, shallowest file first.

    Attributes:
        root: the repository root (absolute).
        files: the compiled ``.dvcignore`` files that apply, DVC's defaults first.
    """

    root: str
    files: tuple[_File, ...]
    everything: bool = False

    def is_ignored(self, relpath: str, is_dir: bool) -> bool:
        """Whether the last part of ``relpath`` (POSIX, relative to the root) is ignored.

        Only the last part is judged: callers walk top-down and never enter
        an ignored folder, which is how DVC keeps files under one ignored.
        Inside an ignored folder (``everything``) all is ignored.
        """
        if self.everything:
            return True
        for ignore_file in reversed(self.files):
            if ignore_file.base:
                if not relpath.startswith(ignore_file.base + "/"):
                    continue
                sub = relpath[len(ignore_file.base) + 1 :]
            else:
                sub = relpath
            candidates = (sub, sub + "/") if is_dir else (sub,)
            for pattern in reversed(ignore_file.patterns):
                if pattern.dir_only and not is_dir:
                    continue
                if any(pattern.regex.match(c) for c in candidates):
                    return pattern.include
        return False

    def descend(self, relpath: str) -> IgnoreRules:
        """The rules inside the (not ignored) folder ``relpath``: its ``.dvcignore`` added."""
        own = f"{relpath}/{DVCIGNORE}" if relpath else DVCIGNORE
        path = os.path.join(self.root, *own.split("/"))
        if self.is_ignored(own, is_dir=False) or not os.path.isfile(path):
            return self
        with open(path, encoding="utf-8") as fobj:
            patterns = _compile(fobj.read().splitlines())
        return IgnoreRules(self.root, (*self.files, _File(relpath, patterns)))


def rules_for(root: Path, folder: Path) -> IgnoreRules | None:
    """The rules in force inside ``folder`` of the repository at ``root``.

    Returns ``None`` when ``folder`` is outside ``root`` (an external
    dependency): DVC applies no ``.dvcignore`` there. The ``.dvcignore`` files
    of every folder from the root down to ``folder`` are read.
    """
    top = os.path.abspath(root)
    rel = os.path.relpath(os.path.abspath(folder), top)
    if rel == ".." or rel.startswith(".." + os.sep) or os.path.isabs(rel):
        return None
    rules = IgnoreRules(top, (_File("", _compile(_DEFAULT_PATTERNS)),)).descend("")
    if rel == ".":
        return rules
    parts = rel.split(os.sep)
    for i in range(1, len(parts) + 1):
        prefix = "/".join(parts[:i])
        if rules.is_ignored(prefix, is_dir=True):
            # NOTE: DVC hashes a directory that is (or lies in) an ignored one as empty.
            return IgnoreRules(rules.root, rules.files, everything=True)
        rules = rules.descend(prefix)
    return rules


def ignored_paths(root: Path, folder: Path) -> list[str]:
    """The ignored files and folders directly met when walking ``folder``, POSIX, relative to it.

    A folder that is ignored is listed whole (DVC never looks inside it).
    Checkout keeps these where they are: DVC neither removes nor replaces
    what ``.dvcignore`` hides from it. Empty when ``folder`` is not a folder
    inside ``root``.
    """
    rules = rules_for(root, folder) if folder.is_dir() and not folder.is_symlink() else None
    if rules is None:
        return []
    rel = os.path.relpath(os.path.abspath(folder), rules.root)
    base = "" if rel == "." else rel.replace(os.sep, "/") + "/"
    found: list[str] = []
    stack = [(os.path.abspath(folder), "", rules)]
    while stack:
        top, prefix, here = stack.pop()
        with os.scandir(top) as entries:
            for entry in entries:
                relpath = prefix + entry.name
                is_dir = entry.is_dir(follow_symlinks=False)
                if here.is_ignored(base + relpath, is_dir):
                    found.append(relpath)
                elif is_dir:
                    stack.append((entry.path, relpath + "/", here.descend(base + relpath)))
    return sorted(found)
