"""Which rows ``exp show`` lists: ``-a/-T/-A/--rev/-n``, the queue, ``--hide-*``, ``--param-deps``.

Provides:
    baseline_revs(root, revs, all_branches, all_tags): the baseline revisions
        in DVC's ``iter_revs`` order.
    show_rows(root, files, ...): the rows ``exp show`` prints or dumps.

Follows ``dvc/repo/experiments/collect.py::collect`` and ``dvc/scm.py::iter_revs``:
``HEAD`` only when no ``--rev``/``-a``/``-T``/``-A`` is given; ``-a`` adds
every branch tip (and ``-n`` ancestors of each), ``-T`` every tag;
``--hide-workspace`` drops the workspace row, ``--hide-queued`` and
``--hide-failed`` those queue entries.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from prefect_dvc.experiments.collect import WORKSPACE, ExpRow, ShowFiles, collect_experiments
from prefect_dvc.experiments.git import Git
from prefect_dvc.experiments.param_deps import declared_params, only_param_deps
from prefect_dvc.experiments.queue import Queue
from prefect_dvc.experiments.queue_rows import with_queue_rows
from prefect_dvc.translators import load_pipeline


def baseline_revs(
    root: Path, revs: Sequence[str], *, all_branches: bool = False, all_tags: bool = False
) -> list[str]:
    """``revs``, then branch names (``-a``), then tag names (``-T``); ``["HEAD"]`` if none."""
    found = list(revs)
    git = Git(root)
    for wanted, prefix in ((all_branches, "refs/heads"), (all_tags, "refs/tags")):
        if wanted:
            listed = git.run("for-each-ref", "--format=%(refname)", prefix).splitlines()
            found += [ref for ref in listed if ref]
    return found or ["HEAD"]


def show_rows(
    root: Path,
    files: ShowFiles,
    *,
    revs: Sequence[str] = (),
    all_branches: bool = False,
    all_tags: bool = False,
    all_commits: bool = False,
    num: int = 1,
    hide_queued: bool = False,
    hide_failed: bool = False,
    hide_workspace: bool = False,
    param_deps: bool = False,
) -> list[ExpRow]:
    """The rows of ``exp show`` for these options, in display order.

    Raises:
        ExperimentNotFoundError: a revision names no commit.
        DvcYamlError: ``param_deps`` with a ``dvc.yaml`` that does not load.
    """
    chosen = baseline_revs(root, revs, all_branches=all_branches, all_tags=all_tags)
    rows = collect_experiments(root, files, revs=chosen, all_commits=all_commits, num=num)
    rows = with_queue_rows(
        rows, Queue(root).entries(), hide_queued=hide_queued, hide_failed=hide_failed
    )
    if hide_workspace:
        rows = [r for r in rows if r.rev != WORKSPACE]
    if param_deps and (root / "dvc.yaml").exists():
        rows = only_param_deps(rows, declared_params(load_pipeline(root)))
    return rows
