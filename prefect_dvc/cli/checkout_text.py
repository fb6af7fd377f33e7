"""What ``pull`` and ``checkout`` print, line for line as DVC prints it.

DVC (``dvc/repo/checkout.py`` and ``dvc/commands/checkout.py``,
``log_changes``) prints one ``A``/``M``/``D`` line per out it changed: ``A``
when the out was not in the workspace, ``M`` when it was there and differed;
a directory ends with ``/``, directories come first, then files, each group
sorted; paths are relative to the current directory. ``pull`` then prints a
summary of files: ``"5 files fetched and 4 files added"`` (``dvc/utils/
humanize.py``, ``get_summary``), or ``Everything is up to date.``
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from prefect_dvc.storage.hashinfo import Tree
from prefect_dvc.storage.sync import UsedOut

#: ``CmdDataBase.log_summary``'s message when nothing moved.
UP_TO_DATE = "Everything is up to date."

_MARKS = {"modified": "M", "added": "A", "deleted": "D"}


@dataclass(frozen=True)
class OutChange:
    """How checking out one out changes the workspace.

    Attributes:
        kind: ``added`` (the out was absent) or ``modified``.
        files: changed files by kind (``{"added": 2}``), as DVC counts them.
    """

    kind: str
    files: Mapping[str, int] = field(default_factory=dict)


def changes_before_checkout(
    root: Path,
    outs: Iterable[UsedOut],
    read_tree: Callable[[str], Tree],
    hash_path: Callable[..., tuple[object, Tree | None]],
) -> dict[str, OutChange]:
    """For each out, what its checkout would change, from the workspace as it is now.

    Args:
        root: the repository root.
        outs: the outs to be checked out (their lock hashes).
        read_tree: reads a ``.dir`` manifest from the local cache.
        hash_path: hashes a workspace path, ``(HashInfo, Tree | None)``.

    Returns:
        ``{out.repo_path: OutChange}`` for every out (unchanged ones included:
        the caller keeps those its checkout restored).
    """
    result: dict[str, OutChange] = {}
    for out in outs:
        dest = root / out.repo_path
        if not dest.exists() and not dest.is_symlink():
            count = len(read_tree(out.info.oid).entries) if out.info.is_dir else 1
            result[out.repo_path] = OutChange("added", {"added": count})
        elif out.info.is_dir and dest.is_dir():
            files = _dir_files(dest, out, read_tree, hash_path)
            result[out.repo_path] = OutChange("modified", files)
        else:
            result[out.repo_path] = OutChange("modified", {"modified": 1})
    return result


def _dir_files(
    dest: Path,
    out: UsedOut,
    read_tree: Callable[[str], Tree],
    hash_path: Callable[..., tuple[object, Tree | None]],
) -> dict[str, int]:
    want = {e.relpath: e.md5 for e in read_tree(out.info.oid).entries}
    # NOTE: a DVC 2 manifest names md5-dos2unix values; compare like with like.
    tree = hash_path(dest, legacy=True)[1] if out.info.legacy else hash_path(dest)[1]
    have = {e.relpath: e.md5 for e in tree.entries} if tree is not None else {}
    counts = {
        "modified": sum(1 for rel, md5 in want.items() if rel in have and have[rel] != md5),
        "added": sum(1 for rel in want if rel not in have),
        "deleted": sum(1 for rel in have if rel not in want),
    }
    # NOTE: only the execute bit lost: DVC still counts the file as modified
    return {kind: n for kind, n in counts.items() if n} or {"modified": 1}


def change_lines(
    root: Path, restored: Iterable[str], changes: Mapping[str, OutChange], cwd: Path | None = None
) -> list[str]:
    """DVC's ``A``/``M`` lines for the outs a checkout ``restored``, in DVC's order."""
    here = (cwd or Path.cwd()).resolve()
    by_kind: dict[str, list[str]] = {kind: [] for kind in _MARKS}
    for repo_path in restored:
        change = changes.get(repo_path, OutChange("modified"))
        by_kind[change.kind].append(_shown(root, repo_path, here))
    lines: list[str] = []
    for kind, paths in by_kind.items():
        # directories first, then files, each sorted (dvc/repo/checkout.py)
        paths.sort(key=lambda p: (not p.endswith("/"), p))
        # DVC writes "A\t<path>" through rich, which expands the tab to column 8
        lines += [f"{_MARKS[kind]}\t{path}".expandtabs(8) for path in paths]
    return lines


def file_stats(restored: Iterable[str], changes: Mapping[str, OutChange]) -> dict[str, int]:
    """Changed files by kind over the restored outs, in DVC's order (modified, added, deleted)."""
    stats = dict.fromkeys(_MARKS, 0)
    for repo_path in restored:
        for kind, count in changes.get(repo_path, OutChange("modified")).files.items():
            stats[kind] += count
    return stats


def summary(stats: Mapping[str, int]) -> str:
    """``get_summary`` of ``dvc/utils/humanize.py``: ``"1 file fetched and 4 files added"``."""
    words = [f"{n} file{'s' if n > 1 else ''} {state}" for state, n in stats.items() if n]
    if not words:
        return UP_TO_DATE
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _shown(root: Path, repo_path: str, here: Path) -> str:
    """The out as DVC names it: relative to ``here``, one slash, a directory ending in ``/``."""
    path = root / os.path.normpath(repo_path)
    shown = os.path.relpath(path, here)
    return os.path.join(shown, "") if path.is_dir() else shown
