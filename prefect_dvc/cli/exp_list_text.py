"""``exp list`` as text, line for line as ``dvc exp list`` prints it.

DVC (``dvc/commands/experiments/ls.py``) prints each baseline as its name
(``describe``: the current branch when the baseline is HEAD, else a tag,
else a branch, else the short SHA) followed by ``:``, then one line per
experiment, ``\\t<short sha> [<name>]``, or ``\\t<name>`` for a Git remote's
experiments; ``--name-only`` and ``--sha-only`` print bare names or SHAs.
Baselines and experiments come in ref-name order, as ``git for-each-ref``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from prefect_dvc.experiments.git import Git
from prefect_dvc.experiments.refs import ExpRef


def describe(git: Git, baselines: Sequence[str]) -> dict[str, str]:
    """A name for each baseline SHA as DVC's ``describe`` gives it; short SHA if none.

    Args:
        git: the repository.
        baselines: full commit SHAs.

    Returns:
        ``{sha: name}``: the current branch when ``sha`` is HEAD's commit,
        else the first tag, else the first branch (ref-name order), else
        ``sha[:7]`` (``dvc/repo/experiments/utils.py``).
    """
    head = git.try_rev_parse("HEAD")
    branch = git.current_branch()
    tags = _first_names(git.for_each_ref("refs/tags/"), "refs/tags/")
    branches = _first_names(git.for_each_ref("refs/heads/"), "refs/heads/")
    names = {}
    for sha in baselines:
        if sha == head and branch:
            names[sha] = branch
        else:
            names[sha] = tags.get(sha) or branches.get(sha) or sha[:7]
    return names


def _first_names(pairs: Sequence[tuple[str, str]], prefix: str) -> dict[str, str]:
    names: dict[str, str] = {}
    for ref, sha in pairs:
        names.setdefault(sha, ref[len(prefix) :])
    return names


def exp_list_lines(
    exps: Sequence[tuple[ExpRef, str | None]],
    names: Mapping[str, str],
    *,
    name_only: bool = False,
    sha_only: bool = False,
) -> list[str]:
    """DVC's lines for ``exps`` (``(experiment, tip SHA or None for a remote's)``).

    Args:
        exps: experiments in ref-name order.
        names: the baseline names from :func:`describe`.
        name_only: only the experiment names (``--name-only``).
        sha_only: only the tip SHAs (``--sha-only``).
    """
    grouped: dict[str, list[tuple[str, str | None]]] = {}
    for exp, sha in exps:
        grouped.setdefault(exp.baseline, []).append((exp.name, sha))
    lines: list[str] = []
    for baseline, members in grouped.items():
        if not (name_only or sha_only):
            lines.append(f"{names.get(baseline) or baseline[:7]}:")
        for name, sha in members:
            if name_only:
                lines.append(name)
            elif sha_only:
                lines.append(str(sha))
            elif sha:
                lines.append(f"\t{sha[:7]} [{name}]")
            else:
                lines.append(f"\t{name}")
    return lines
