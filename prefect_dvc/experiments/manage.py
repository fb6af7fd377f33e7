"""Acting on existing experiments: apply, branch, remove, rename (formats.md §5.7).

Provides:
    apply_experiment: write an experiment's files into the workspace as
        uncommitted changes; HEAD, branch and index stay where they are.
    branch_experiment: a new branch at an experiment's commit.
    remove_experiments: delete experiment refs, locally or on a Git remote.
    rename_experiment: move an experiment to a new name under the same baseline.

Every function checks everything first and changes nothing when a check
fails; ref changes are single atomic ``update-ref`` transactions or pushes.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from prefect_dvc.errors import ExperimentExistsError, GitError, UnsafePathError
from prefect_dvc.experiments.commit import scratch_dir
from prefect_dvc.experiments.git import ZERO_SHA, Git, check_remote
from prefect_dvc.experiments.refs import (
    ExpRef,
    list_exp_refs,
    resolve_exp,
    select_remote_exps,
    validate_name,
)
from prefect_dvc.safety import check_workspace_path, remove_workspace_path, symlink_escape
from prefect_dvc.tmpnames import temp_dir

_GITLINK = "160000"
_SHOWN = 5


@dataclass(frozen=True)
class _Change:
    """One path that differs between HEAD and the experiment commit."""

    path: str
    head_blob: str | None
    exp_blob: str | None
    exp_mode: str


def apply_experiment(root: Path, exp: str, *, force: bool = False) -> list[str]:
    """Bring experiment ``exp`` (name, ref or commit) into the workspace.

    Every file that differs between HEAD and the experiment commit is
    written (or deleted) in the working tree as an uncommitted change; HEAD,
    the branch and the index do not move, other files are left alone.
    When a file to be written holds changes of the user's own (it differs
    from both HEAD and the experiment), nothing is written and
    :class:`GitError` names the files, unless ``force``.

    Returns:
        The paths whose workspace content changed (from the Git top), sorted,
        so the caller can restore the DVC-cached outs that ``dvc.lock`` now names.
    """
    # NOTE: as DVC, the whole commit is applied; in a --subdir project the
    # tree's paths are from the Git top ('proj/params.yaml'), so work from there.
    git, _prefix = Git(root).work_tree()
    git.head_commit()
    exp_ref, sha = resolve_exp(git, exp)
    changes = _tree_changes(git, "HEAD", sha)
    current = _workspace_blobs(git, [c.path for c in changes])
    dirty = [c.path for c in changes if current[c.path] not in (c.head_blob, c.exp_blob)]
    if dirty and not force:
        # NOTE: the results of an earlier `exp run` are not the user's to lose:
        # they are kept in that experiment's commit.
        saved = _saved_in_experiments(git, exp_ref.baseline, {p: current[p] for p in dirty})
        dirty = [p for p in dirty if p not in saved]
    if dirty and not force:
        shown = ", ".join(dirty[:_SHOWN]) + (" ..." if len(dirty) > _SHOWN else "")
        raise GitError(
            f"cannot apply experiment '{exp_ref.name}': it would overwrite your uncommitted "
            f"changes to {shown}",
            hint="Commit or stash them ('git stash'), or use -f to overwrite them",
        )
    todo = [c for c in changes if current[c.path] != c.exp_blob]
    _check_targets(git.root, todo, current)
    _write_from_commit(git, sha, [c.path for c in todo if c.exp_blob is not None])
    for change in todo:
        if change.exp_blob is None:
            _remove(git.root, change.path)
    return sorted(c.path for c in todo)


def _check_targets(root: Path, todo: Sequence[_Change], current: dict[str, str | None]) -> None:
    """Refuse the whole apply before anything changes if one path is unsafe.

    Deletions (and folders replaced by files) must pass
    :func:`~prefect_dvc.safety.check_workspace_path`; every written path
    must not reach outside through a symlinked folder of the workspace.

    Raises:
        UnsafePathError: naming the first unsafe path.
    """
    for change in todo:
        if change.exp_blob is None or current[change.path] == "directory":
            check_workspace_path(root, change.path)
        elif (reason := symlink_escape(root, change.path)) is not None:
            raise UnsafePathError(
                f"refusing to write '{change.path}': {reason}",
                path=change.path,
                hint="Remove the symlink, or apply the experiment in a fresh clone",
            )


def _saved_in_experiments(git: Git, baseline: str, blobs: dict[str, str | None]) -> set[str]:
    """The paths whose workspace blob is the path's content in some experiment of ``baseline``."""
    wanted = {path: blob for path, blob in blobs.items() if blob and blob != "directory"}
    shas = [sha for _exp, sha in list_exp_refs(git, baseline)]
    if not wanted or not shas:
        return set()
    queries = [(path, sha) for path in wanted for sha in shas]
    out = git.run(
        "cat-file", "--batch-check=%(objectname)", input="".join(f"{s}:{p}\n" for p, s in queries)
    )
    found = {path for (path, _), line in zip(queries, out.splitlines()) if line == wanted[path]}
    return found


def _tree_changes(git: Git, old: str, new: str) -> list[_Change]:
    """The blob-level differences between two commits (gitlinks left out)."""
    out = git.run("diff-tree", "-r", "-z", "--no-renames", "--no-abbrev", old, new)
    fields = out.split("\0")
    changes = []
    for meta, path in zip(fields[0::2], fields[1::2]):
        old_mode, new_mode, old_blob, new_blob, _status = meta.lstrip(":").split(" ")
        if _GITLINK in (old_mode, new_mode):
            continue
        changes.append(
            _Change(
                path=path,
                head_blob=None if old_blob == ZERO_SHA else old_blob,
                exp_blob=None if new_blob == ZERO_SHA else new_blob,
                exp_mode=new_mode,
            )
        )
    return changes


def _workspace_blobs(git: Git, paths: Sequence[str]) -> dict[str, str | None]:
    """The Git blob id each path has in the working tree (``None``: absent)."""
    blobs: dict[str, str | None] = {}
    files = []
    for path in paths:
        full = git.root / path
        if full.is_symlink():
            target = os.fsencode(os.readlink(full))
            blobs[path] = hashlib.sha1(b"blob %d\0" % len(target) + target).hexdigest()
        elif full.is_file():
            files.append(path)
        else:
            # NOTE: a folder where the experiment has a file counts as a user change.
            blobs[path] = "directory" if full.exists() else None
    if files:
        out = git.run("hash-object", "--stdin-paths", input="".join(f"{p}\n" for p in files))
        blobs.update(zip(files, out.split("\n")))
    return blobs


def _write_from_commit(git: Git, sha: str, paths: Sequence[str]) -> None:
    """Write ``paths`` as they are in ``sha`` into the working tree.

    ``checkout-index`` from a private index applies the user's smudge
    filters, modes and symlinks exactly as ``git checkout`` would.
    """
    if not paths:
        return
    for path in paths:
        full = git.root / path
        if full.is_dir() and not full.is_symlink():
            remove_workspace_path(git.root, path)
    # NOTE: in .dvc/tmp/prefect-dvc under a name with host and pid, so the
    # folder of a killed finalizer is removed by the next command (tmpnames).
    with temp_dir(scratch_dir(git.root), "index") as tmp:
        env = {"GIT_INDEX_FILE": str(tmp / "index")}
        git.run("read-tree", sha, env=env)
        git.run(
            "checkout-index",
            "--force",
            "-z",
            "--stdin",
            input="".join(f"{p}\0" for p in paths),
            env=env,
        )


def _remove(root: Path, path: str) -> None:
    """Delete a file the experiment does not have, and folders it leaves empty."""
    full = root / path
    remove_workspace_path(root, path)
    parent = full.parent
    while parent != root and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent


def branch_experiment(root: Path, exp: str, branch: str | None = None) -> str:
    """Create branch ``branch`` (default ``<name>-branch``) at experiment ``exp``.

    Fails, changing nothing, if the branch exists. Returns the commit SHA.
    """
    git = Git(root)
    exp_ref, sha = resolve_exp(git, exp)
    branch = branch or f"{exp_ref.name}-branch"
    try:
        git.run("check-ref-format", "--branch", branch)
    except GitError:
        raise GitError(
            f"'{branch}' is not a valid branch name",
            hint="Pick a name 'git branch' accepts, e.g. without spaces or '..'",
        ) from None
    if git.try_rev_parse(f"refs/heads/{branch}") is not None:
        raise GitError(
            f"branch '{branch}' already exists",
            hint=f"Pick another branch name, or delete it first with 'git branch -D {branch}'",
        )
    git.update_ref(
        f"refs/heads/{branch}",
        sha,
        ZERO_SHA,
        message=f"prefect-dvc: Created from experiment '{exp_ref.name}'",
    )
    return sha


def remove_experiments(
    root: Path,
    names: Sequence[str] | None = None,
    *,
    all_: bool = False,
    git_remote: str | None = None,
) -> list[ExpRef]:
    """Delete the named experiments (or all of them) locally, or on ``git_remote``.

    Names are resolved first; one unknown name removes nothing. Local refs
    are deleted in one atomic transaction; on a remote, one atomic push of
    delete refspecs. Returns the experiments removed.
    """
    if not names and not all_:
        raise GitError(
            "no experiments to remove were named",
            hint="Name the experiments to remove, or pass --all to remove every one",
        )
    git = Git(root)
    if git_remote is None:
        selected = list_exp_refs(git) if all_ else [resolve_exp(git, n) for n in names or ()]
    else:
        selected = select_remote_exps(git, check_remote(git_remote), names, all_=all_)
    unique = list(dict.fromkeys(selected))
    if git_remote is None:
        git.update_refs([f"delete {exp.ref} {sha}" for exp, sha in unique])
    elif unique:
        git.run(
            "push",
            "--atomic",
            "--end-of-options",
            git_remote,
            *(f":{exp.ref}" for exp, _ in unique),
            hint=f"Nothing was removed. Check that you may push to '{git_remote}'",
        )
    return [exp for exp, _ in unique]


def rename_experiment(root: Path, exp: str, new_name: str, *, force: bool = False) -> ExpRef:
    """Give experiment ``exp`` the name ``new_name``, under the same baseline.

    An existing experiment of that name raises :class:`ExperimentExistsError`
    unless ``force``. Both ref changes happen in one transaction.
    """
    validate_name(new_name)
    git = Git(root)
    old, sha = resolve_exp(git, exp)
    new = ExpRef(old.baseline, new_name)
    if new == old:
        return old
    existing = git.try_rev_parse(new.ref)
    if existing is not None and not force:
        raise ExperimentExistsError(
            f"experiment '{new_name}' already exists for baseline {old.baseline[:7]}",
            hint="Use -f to overwrite or pick another name",
        )
    git.update_refs([f"update {new.ref} {sha} {existing or ZERO_SHA}", f"delete {old.ref} {sha}"])
    return new
