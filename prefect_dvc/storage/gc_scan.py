"""What ``gc`` must keep: every object the kept revisions' ``dvc.lock`` and ``.dvc`` files name.

Provides:
    Unreadable: a lock or ``.dvc`` file of a kept revision that cannot be trusted.
    UsedObjects: the md5s to keep, and the unreadable files met on the way.
    scan_used(root, revs, workspace_extra=): read every ``dvc.lock`` and
        ``.dvc`` file of the workspace and of each revision (found through Git).
    check_lock_text(text, kind) / names_in(text): the checks and the fallback.

A file that is empty, not YAML, not the expected mapping, cut short (no
final newline: DVC and prefect-dvc always end these files with one) or whose
entries lack their hashes would make ``gc`` drop everything it refers to
(DVC 3 does exactly that with a truncated ``dvc.lock``). Such a file is
reported; the caller refuses unless ``--skip-failed`` (DVC's flag), and
then keeps everything the revision might need rather than nothing: every
md5 that appears anywhere in the damaged text, the same file in the nearest
ancestor commit that reads cleanly (``HEAD`` for the workspace), and for the
workspace whatever ``workspace_extra`` adds (the hashes of its outs on disk).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefect_dvc.errors import PrefectDvcError
from prefect_dvc.storage.hashinfo import HashInfo
from prefect_dvc.storage.legacy import legacy_oid
from prefect_dvc.yamlio import parse_yaml

WORKSPACE = "workspace"
ANCESTORS = 20
_MD5 = re.compile(r"\b[0-9a-f]{32}(?:\.dir)?\b")


@dataclass(frozen=True)
class Unreadable:
    """``path`` (repository-relative) at ``rev`` (``workspace`` or a commit) and why."""

    rev: str
    path: str
    why: str

    def describe(self) -> str:
        where = "the workspace" if self.rev == WORKSPACE else f"revision {self.rev[:7]}"
        return f"'{self.path}' in {where} {self.why}"


@dataclass(frozen=True)
class UsedObjects:
    """md5s (``.dir`` ones included) to keep, and the files that could not be read."""

    md5s: frozenset[str]
    unreadable: tuple[Unreadable, ...] = field(default=())


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=False
    ).stdout


def _items(entry: Any, key: str) -> list[Any]:
    value = entry.get(key) if isinstance(entry, dict) else None
    return value if isinstance(value, list) else []


def check_lock_text(text: str, kind: str) -> tuple[set[str], str | None]:
    """The md5s a ``dvc.lock`` (``kind="lock"``) or ``.dvc`` file names, or why it is unreadable.

    Returns:
        (md5s, None) for a sound file; (set(), reason) otherwise.
    """
    if not text.strip():
        return set(), "is empty"
    if not text.endswith("\n"):
        return set(), "is cut short (no final newline)"
    try:
        data = parse_yaml(text)
    except PrefectDvcError:
        return set(), "is not valid YAML"
    if not isinstance(data, dict):
        return set(), "is not a mapping"
    if kind == "lock":
        stages = data.get("stages")
        if str(data.get("schema")) != "2.0" or not isinstance(stages, dict):
            return set(), "has no schema '2.0' and 'stages'"
        if not all(isinstance(e, dict) and "cmd" in e for e in stages.values()):
            return set(), "has a stage entry without its cmd"
        entries = list(stages.values())
        keys = ("deps", "outs")
    else:
        if not _items(data, "outs"):
            return set(), "has no outs"
        # NOTE: a .dvc file's deps (imports) legitimately carry no hash.
        entries, keys = [data], ("outs",)
    # NOTE: an import made with --no-download records its outs without a hash.
    hashless_ok = kind == "dvc" and bool(_items(data, "deps"))
    md5s: set[str] = set()
    for entry in entries:
        if not isinstance(entry, dict):
            return set(), "has a stage entry that is not a mapping"
        for item in (i for key in keys for i in _items(entry, key)):
            if not isinstance(item, dict) or "path" not in item:
                return set(), "has an entry without its path"
            if not _hashed(item) and not hashless_ok:
                return set(), "has an entry without its hash"
            info = HashInfo.from_lock(item)
            if info is not None:
                md5s.add(info.oid)
    return md5s, None


def _hashed(item: dict[str, Any]) -> bool:
    return any(item.get(k) for k in ("md5", "etag", "checksum", "version_id"))


def names_in(text: str) -> set[str]:
    """Every md5-looking word in ``text``: what a damaged file may still refer to.

    Each is kept both as a DVC 3 object and as a DVC 2 (legacy) one: a
    damaged file no longer says which of the two its items were.
    """
    words = set(_MD5.findall(text))
    return words | {legacy_oid(word) for word in words}


def _tracked_files(root: Path, rev: str | None) -> list[tuple[str, str]]:
    """``(path, kind)`` of every ``dvc.lock`` and ``.dvc`` file in the workspace or at ``rev``."""
    if rev is None:
        listing = _git(root, "ls-files", "-co", "--exclude-standard")
        # NOTE: DVC's index reads a .dvc file whether Git ignores it or not;
        # missing a Git-ignored one would make gc delete the data it tracks.
        listing += "\n" + _git(root, "ls-files", "-oi", "--exclude-standard", "--", "*.dvc")
    else:
        listing = _git(root, "ls-tree", "-r", "--name-only", rev)
    found = []
    for name in sorted(set(listing.splitlines())):
        base = name.rsplit("/", 1)[-1]
        if base == "dvc.lock":
            found.append((name, "lock"))
        elif name.endswith(".dvc") and base != ".dvc" and not name.startswith(".dvc/"):
            found.append((name, "dvc"))
    return found


def _ancestor_md5s(root: Path, rev: str, path: str, kind: str) -> set[str]:
    """The file at the nearest ancestor of ``rev`` (itself for HEAD) that reads cleanly."""
    commits = _git(root, "rev-list", "--first-parent", f"--max-count={ANCESTORS}", rev).split()
    for commit in commits:
        md5s, why = check_lock_text(_git(root, "show", f"{commit}:./{path}"), kind)
        if why is None:
            return md5s
    return set()


def scan_used(
    root: Path,
    revs: Sequence[str],
    *,
    workspace_extra: Callable[[], set[str]] = set,
) -> UsedObjects:
    """What the workspace and ``revs`` need; damaged files add their fallback md5s.

    Every pipeline counts (sub-folder ``dvc.lock`` files too) and every
    ``.dvc`` file, as DVC's ``gc`` collects them. Files are found through
    Git, so large data folders are never walked.
    """
    used: set[str] = set()
    bad: list[Unreadable] = []
    head = _git(root, "rev-parse", "--verify", "-q", "HEAD").strip()
    files = _tracked_files(root, None)
    if (root / "dvc.lock").is_file() and ("dvc.lock", "lock") not in files:
        files.append(("dvc.lock", "lock"))
    for path, kind in files:
        if not (root / path).is_file():
            continue
        try:
            text = (root / path).read_text(errors="replace")
            md5s, why = check_lock_text(text, kind)
        except OSError as exc:
            text, md5s, why = "", set(), f"cannot be read ({exc.strerror})"
        used |= md5s
        if why is not None:
            bad.append(Unreadable(WORKSPACE, path, why))
            used |= names_in(text) | (_ancestor_md5s(root, head, path, kind) if head else set())
    if any(b.rev == WORKSPACE for b in bad):
        used |= workspace_extra()
    for rev in revs:
        for path, kind in _tracked_files(root, rev):
            text = _git(root, "show", f"{rev}:./{path}")
            md5s, why = check_lock_text(text, kind)
            used |= md5s
            if why is not None:
                bad.append(Unreadable(rev, path, why))
                used |= names_in(text) | _ancestor_md5s(root, f"{rev}^", path, kind)
    return UsedObjects(frozenset(used), tuple(bad))
