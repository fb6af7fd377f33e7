"""The read-only Python API, shaped like ``dvc.api``; the CLI prints from these.

Provides:
    exp_show(repo, ...): ``dvc exp show --json`` as a list of dicts.
    params_show(repo): the workspace's params merged into one dict.
    metrics_show(repo): the workspace's metrics merged into one dict.

The params and metrics files come from the workspace's ``dvc.yaml``
(``ShowFiles.from_dvcyaml``). ``params_show``/``metrics_show`` merge the
files' top-level keys the way ``dvc.api`` does: a key found in several files
is spelled ``file:key``. None of this imports Prefect.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from prefect_dvc.errors import ParamsError
from prefect_dvc.experiments.collect import FileData, ShowFiles, collect_experiments
from prefect_dvc.experiments.show import to_json

__all__ = ["exp_show", "metrics_show", "params_show"]


def exp_show(
    repo: str | Path = ".",
    *,
    revs: Sequence[str] = ("HEAD",),
    all_commits: bool = False,
    num: int = 1,
    hide_workspace: bool = False,
) -> list[dict[str, Any]]:
    """Experiments of ``revs`` (``num`` first-parents back, or ``all_commits``) as JSON data.

    Raises:
        ExperimentNotFoundError: a revision names no commit.
        DvcYamlError: the workspace's ``dvc.yaml`` is not valid YAML.
    """
    root = Path(repo)
    rows = collect_experiments(
        root, ShowFiles.from_dvcyaml(root), revs=revs, all_commits=all_commits, num=num
    )
    shown = to_json(rows)
    return shown[1:] if hide_workspace else shown


def params_show(repo: str | Path = ".") -> dict[str, Any]:
    """All params of the workspace, one dict (``dvc.api.params_show()``).

    Raises:
        ParamsError: a params file is missing or cannot be parsed.
    """
    root = Path(repo)
    files = ShowFiles.from_dvcyaml(root)
    rows = collect_experiments(root, files, revs=(), num=1)
    return _merge(rows[0].data.params)


def metrics_show(repo: str | Path = ".") -> dict[str, Any]:
    """All metrics of the workspace, one dict (``dvc.api.metrics_show()``).

    Raises:
        ParamsError: a metrics file is missing or cannot be parsed.
    """
    root = Path(repo)
    files = ShowFiles.from_dvcyaml(root)
    rows = collect_experiments(root, files, revs=(), num=1)
    return _merge(rows[0].data.metrics)


def _merge(files: Mapping[str, FileData]) -> dict[str, Any]:
    for rel, fd in files.items():
        if fd.error:
            raise ParamsError(
                fd.error.msg, path=rel, hint="Fix or restore the file, then run the command again"
            )
    counts = Counter(key for fd in files.values() for key in fd.data)
    merged: dict[str, Any] = {}
    for rel, fd in files.items():
        for key, value in fd.data.items():
            merged[key if counts[key] == 1 else f"{rel}:{key}"] = value
    return merged
