"""Sharing experiment refs through a Git remote (formats.md §5.7 push/pull).

Provides:
    push_experiments: send experiment refs to a Git remote in one atomic push.
    pull_experiments: fetch experiment refs from a Git remote in one atomic fetch.

Only refs move here. Both return the experiments concerned so the caller can
push or fetch the DVC objects their commits need; DVC objects are not Git's
business.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from prefect_dvc.errors import GitError
from prefect_dvc.experiments.git import Git, check_remote
from prefect_dvc.experiments.refs import ExpRef, list_exp_refs, resolve_exp, select_remote_exps


def push_experiments(
    root: Path, git_remote: str, names: Sequence[str] | None = None, *, force: bool = False
) -> list[ExpRef]:
    """Push the named experiments (default: those of HEAD) to ``git_remote``.

    One ``git push --atomic`` with ``<ref>:<ref>`` refspecs: either every
    ref lands or none does. A ref that has diverged on the remote is only
    overwritten with ``force``.

    Returns:
        Every experiment selected (all are on the remote afterwards), so the
        caller can push the DVC objects they use.
    """
    check_remote(git_remote)
    git = Git(root)
    if names:
        selected = [resolve_exp(git, n) for n in names]
    else:
        selected = list_exp_refs(git, git.head_commit())
    exps = list(dict.fromkeys(exp for exp, _ in selected))
    if not exps:
        return []
    plus = "+" if force else ""
    git.run(
        "push",
        "--atomic",
        "--end-of-options",
        git_remote,
        *(f"{plus}{exp.ref}:{exp.ref}" for exp in exps),
        hint=(
            "Nothing was pushed. If an experiment was changed on the remote meanwhile, "
            "pull it first or use -f to overwrite it"
        ),
    )
    return exps


def pull_experiments(
    root: Path, git_remote: str, names: Sequence[str] | None = None, *, force: bool = False
) -> list[ExpRef]:
    """Fetch the named experiments (default: those of HEAD) from ``git_remote``.

    One ``ls-remote`` finds them, one atomic ``fetch`` brings the ones that
    differ. A local experiment that has diverged from the remote one is kept
    (and the call fails, fetching nothing) unless ``force``.

    Returns:
        The experiments whose local ref was created or moved.
    """
    check_remote(git_remote)
    git = Git(root)
    if names:
        selected = select_remote_exps(git, git_remote, names, all_=False)
    else:
        head = git.head_commit()
        selected = [
            e for e in select_remote_exps(git, git_remote, None, all_=True) if e[0].baseline == head
        ]
    local = dict(list_exp_refs(git))
    todo = list(dict.fromkeys(exp for exp, sha in selected if local.get(exp) != sha))
    if not todo:
        return []
    plus = "+" if force else ""
    try:
        git.run(
            "fetch",
            "--atomic",
            "--no-write-fetch-head",
            "--no-tags",
            "--end-of-options",
            git_remote,
            *(f"{plus}{exp.ref}:{exp.ref}" for exp in todo),
        )
    except GitError as exc:
        remote = dict(selected)
        diverged = [
            exp.name
            for exp in todo
            if exp in local and not _fast_forward(git, local[exp], remote[exp])
        ]
        if diverged and not force:
            raise GitError(
                f"cannot pull from '{git_remote}': local experiment(s) "
                f"{', '.join(diverged)} differ from the remote ones and were kept",
                hint="Use -f to overwrite the local experiments with the remote ones",
            ) from exc
        raise
    return todo


def _fast_forward(git: Git, old: str, new: str) -> bool:
    """Whether ``new`` descends from ``old``; ``False`` when ``new`` was not fetched."""
    try:
        return git.is_ancestor(old, new)
    except GitError:
        return False
