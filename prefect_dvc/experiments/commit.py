"""Experiment commits, made beside the user's work, never in it (formats.md §5.3, §6).

Provides:
    commit_experiment: commit workspace files onto a baseline (or a previous
        checkpoint) and point ``refs/exps/...`` at the result.
    workspace_changes: the files that differ from HEAD, for the finalizer.
    scratch_dir(root): where private index folders are made.

The commit is built in a private index (``GIT_INDEX_FILE`` in a temporary
folder) with plumbing commands, so the user's HEAD, branch, index, stash and
working files are never written: an experiment can finish while the user
keeps editing, staging or even committing. The ref is moved with
compare-and-swap so two runs cannot silently overwrite each other.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath

from prefect_dvc.errors import ExperimentExistsError, GitError
from prefect_dvc.experiments.git import ZERO_SHA, Git
from prefect_dvc.experiments.refs import ExpRef, validate_name
from prefect_dvc.repo import RepoPaths
from prefect_dvc.tmpnames import temp_dir

logger = logging.getLogger(__name__)

# NOTE: DVC's transient state (repro.dat pickles, executor info, exp-show
# cache) must never end up in an experiment commit (formats.md §9 item 2).
EXCLUDED_PREFIX = ".dvc/tmp"


def scratch_dir(root: Path) -> Path:
    """Where private index folders go: ``.dvc/tmp/prefect-dvc`` in a DVC project.

    There the next command removes a killed writer's folder (``tmpnames``);
    a plain Git repository gets the system temp folder instead, so that no
    ``.dvc`` folder is ever created in it.
    """
    own = RepoPaths(root).own_tmp
    return own if own.parent.parent.is_dir() else Path(tempfile.gettempdir())


def is_transient(path: str) -> bool:
    """Whether ``path`` (repo-relative) lies in DVC's transient state, never committed."""
    return path == EXCLUDED_PREFIX or path.startswith(EXCLUDED_PREFIX + "/")


def _clean_path(root: Path, path: str) -> str:
    """``path`` as a normalized repo-relative POSIX path; an error if it leaves the repo."""
    pure = PurePosixPath(path.replace(os.sep, "/"))
    parts = [p for p in pure.parts if p not in ("", ".")]
    if pure.is_absolute() or ".." in parts or not parts or parts[0] == ".git":
        raise GitError(
            f"cannot commit '{path}': it is not a path inside the repository {root}",
            path=path,
            hint="Pass paths relative to the repository root, outside .git",
        )
    return "/".join(parts)


def workspace_changes(root: Path) -> list[str]:
    """Every file that differs from HEAD: modified, deleted, staged or untracked-not-ignored.

    Sorted, repo-relative, without ``.dvc/tmp/``. This is what a workspace
    run leaves behind for the experiment commit.
    """
    git = Git(root)
    git.head_commit()
    changed = git.run("diff", "--name-only", "--no-renames", "-z", "HEAD", "--").split("\0")
    untracked = git.run("ls-files", "--others", "--exclude-standard", "-z").split("\0")
    return sorted({p for p in [*changed, *untracked] if p and not is_transient(p)})


def commit_experiment(
    root: Path,
    *,
    baseline: str,
    name: str,
    paths: Iterable[str],
    message: str,
    parent: str | None = None,
    force: bool = False,
) -> str:
    """Commit ``paths`` as they are in the workspace and point the experiment's ref there.

    The new commit's tree is ``parent``'s tree (default: the baseline's) with
    each of ``paths`` replaced by its workspace content; a path gone from the
    workspace is removed. Directories are taken whole. The commit has the
    single parent ``parent`` and the user's identity.

    Chaining checkpoints: pass the previous commit as ``parent``; when the
    experiment's ref still points at ``parent`` it simply moves forward.
    Any other existing ref of that baseline and name raises
    :class:`ExperimentExistsError` unless ``force``.

    Returns:
        The SHA of the new commit.
    """
    validate_name(name)
    # NOTE: paths are from the top of the work tree, where a --subdir project's
    # files are 'proj/...'; Git runs there so pathspecs and lexists agree.
    git, prefix = Git(root).work_tree()
    base = git.rev_parse(baseline)
    start = git.rev_parse(parent) if parent else base
    if not git.is_ancestor(base, start):
        raise GitError(
            f"parent commit {start[:7]} does not descend from baseline {base[:7]}",
            hint="Pass a parent made from this baseline (a previous checkpoint), or no parent",
        )
    exp = ExpRef(base, name)
    old = git.try_rev_parse(exp.ref)
    if old is not None and not force and not (parent and old == start):
        raise _exists(exp)
    tree = _build_tree(git, start, [_clean_path(root, p) for p in paths], prefix, root)
    # NOTE: the message is stored exactly as given. DVC's own experiment
    # commits have no trailing newline (unlike `git commit`), so neither do ours.
    sha = git.run("commit-tree", tree, "-p", start, "-F", "-", input=message)
    try:
        git.update_ref(
            exp.ref, sha, old or ZERO_SHA, message=f"prefect-dvc: commit experiment '{name}'"
        )
    except GitError:
        if git.try_rev_parse(exp.ref) != old:  # another run wrote it meanwhile
            raise _exists(exp) from None
        raise
    logger.info("experiment %s committed as %s", exp.ref, sha)
    return sha


def _exists(exp: ExpRef) -> ExperimentExistsError:
    return ExperimentExistsError(
        f"experiment '{exp.name}' already exists for baseline {exp.baseline[:7]}",
        hint="Use -f to overwrite or -n to pick another name",
    )


def _build_tree(
    git: Git, start: str, paths: Sequence[str], prefix: str = "", root: Path | None = None
) -> str:
    """Write the tree of ``start`` updated with ``paths`` (from ``git.root``) from the workspace.

    ``prefix`` is the project's folder in the work tree (``Git.work_tree``),
    whose ``.dvc/tmp`` is never committed; ``root`` the project (scratch space).
    """
    excluded = prefix + EXCLUDED_PREFIX
    kept = [p for p in paths if not (p.startswith(prefix) and is_transient(p[len(prefix) :]))]
    for skipped in sorted(set(paths) - set(kept)):
        logger.warning("not committing %s: %s/ holds DVC's transient state", skipped, excluded)
    # NOTE: in .dvc/tmp/prefect-dvc under a name with host and pid, so the
    # folder of a killed finalizer is removed by the next command (tmpnames).
    with temp_dir(scratch_dir(root or git.root), "index") as tmp:
        env = {"GIT_INDEX_FILE": str(tmp / "index")}
        git.run("read-tree", start, env=env)
        kept = _present(git, kept, env)
        if kept:
            specs = "".join(f":(literal){p}\0" for p in kept) + f":(exclude){excluded}\0"
            git.run(
                "add",
                "--all",
                "--force",
                "--pathspec-from-file=-",
                "--pathspec-file-nul",
                input=specs,
                env=env,
                hint="Check that the files exist and are readable",
            )
        return git.run("write-tree", env=env)


def _present(git: Git, paths: Sequence[str], env: dict[str, str]) -> list[str]:
    """Drop the paths that exist neither in the workspace nor in the private index.

    Such a path has nothing to add or remove, and ``git add`` would fail on it.
    """
    missing = [p for p in paths if not os.path.lexists(git.root / p)]
    if not missing:
        return list(paths)
    specs = [f":(literal){p}" for p in missing]
    listed = git.run("ls-files", "-z", "--", *specs, env=env).split("\0")
    indexed = {p for p in listed if p}
    gone = {
        p for p in missing if p not in indexed and not any(i.startswith(p + "/") for i in indexed)
    }
    return [p for p in paths if p not in gone]
