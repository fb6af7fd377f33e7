"""``exp diff``, ``params diff``, ``metrics diff`` and ``metrics show``, in DVC 3's shapes.

Provides:
    resolve_revision(root, rev, batch): a SHA (commit-ish or experiment name) or ``workspace``.
    load_revisions(root, files, revs): ``ExpData`` of each revision.
    diff_files(old, new, all_keys=): ``{file: {key: {old, new[, diff]}}}`` over flattened keys.
    exp_diff, params_diff, metrics_diff, metrics_show: the ``--json`` results (§7.3).
    diff_table(diff, ...), metrics_show_table(shown, ...): plain or Markdown text.

Rounding differs by command, as in DVC (``formats.md`` §9.13): ``exp diff``
rounds metrics to 5 significant digits, ``metrics diff``/``metrics show``
round to 5 decimal places, params are never rounded. ``diff`` is present only
when both values are numbers; ``all_keys=True`` (``--all``) keeps unchanged keys too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from prefect_dvc.errors import ExperimentNotFoundError
from prefect_dvc.experiments.collect import (
    WORKSPACE,
    ExpData,
    FileData,
    ShowFiles,
    list_exp_refs,
    read_revision,
)
from prefect_dvc.experiments.gitbatch import GitBatch, list_refs, run_git
from prefect_dvc.experiments.show import markdown_table

__all__ = [
    "diff_files",
    "diff_table",
    "exp_diff",
    "load_revisions",
    "metrics_diff",
    "metrics_show",
    "metrics_show_table",
    "params_diff",
    "resolve_revision",
]

Rounding = Literal["significant", "decimal", "none"]


def resolve_revision(root: Path, rev: str, batch: GitBatch) -> str:
    """``workspace``, or the SHA ``rev`` names: a commit-ish first, else an experiment.

    An experiment name found under several baselines resolves to the one whose
    baseline is ``HEAD``, as DVC does.

    Raises:
        ExperimentNotFoundError: nothing matches, or the name is ambiguous.
    """
    if rev == WORKSPACE:
        return WORKSPACE
    found = None if rev.startswith("-") else batch.read(f"{rev}^{{commit}}")
    if found is not None:
        return found.sha
    matches = [r for r in list_exp_refs(list_refs(root, ["refs/exps"])) if r.name == rev]
    if len(matches) > 1:
        head = run_git(root, "rev-parse", "HEAD").strip()
        matches = [r for r in matches if r.baseline == head] or matches
    if len(matches) == 1:
        return matches[0].tip
    what = "is ambiguous: it names experiments of several baselines" if matches else "not found"
    raise ExperimentNotFoundError(
        f"revision or experiment '{rev}' {what}",
        path=str(root),
        hint="Pass a commit SHA, branch, tag, or an experiment name listed by 'exp show'",
    )


def load_revisions(root: Path, files: ShowFiles, revs: Sequence[str]) -> list[ExpData]:
    """Read params and metrics at each of ``revs`` through one cat-file process."""
    with GitBatch(root) as batch:
        shas = [resolve_revision(root, rev, batch) for rev in revs]
        return [read_revision(root, files, sha, batch) for sha in shas]


def _comparable(value: Any) -> Any:
    # NOTE: DVC prints lists in diffs as their text ("[1, 2]").
    return str(value) if isinstance(value, list) else value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def diff_files(
    old: Mapping[str, FileData], new: Mapping[str, FileData], *, all_keys: bool = False
) -> dict[str, dict[str, dict[str, Any]]]:
    """Compare flattened keys file by file; unreadable or missing files count as empty."""
    result: dict[str, dict[str, dict[str, Any]]] = {}
    for file in sorted({*old, *new}):
        before = old[file].flat if file in old and not old[file].error else {}
        after = new[file].flat if file in new and not new[file].error else {}
        changes = {}
        for key in sorted({*before, *after}):
            a, b = _comparable(before.get(key)), _comparable(after.get(key))
            if a == b and type(a) is type(b) and not all_keys:
                continue
            entry: dict[str, Any] = {"old": a, "new": b}
            if _is_number(a) and _is_number(b):
                entry["diff"] = b - a
            changes[key] = entry
        if changes:
            result[file] = changes
    return result


def params_diff(
    root: Path, a: str = "HEAD", b: str = WORKSPACE, *, files: ShowFiles, all_keys: bool = False
) -> dict[str, Any]:
    """``dvc params diff a b --json``."""
    old, new = load_revisions(root, files, [a, b])
    return diff_files(old.params, new.params, all_keys=all_keys)


def metrics_diff(
    root: Path, a: str = "HEAD", b: str = WORKSPACE, *, files: ShowFiles, all_keys: bool = False
) -> dict[str, Any]:
    """``dvc metrics diff a b --json``."""
    old, new = load_revisions(root, files, [a, b])
    return diff_files(old.metrics, new.metrics, all_keys=all_keys)


def exp_diff(
    root: Path, a: str = "HEAD", b: str = WORKSPACE, *, files: ShowFiles, all_keys: bool = False
) -> dict[str, Any]:
    """``dvc exp diff a b --json``: ``{"metrics": …, "params": …}``."""
    old, new = load_revisions(root, files, [a, b])
    return {
        "metrics": diff_files(old.metrics, new.metrics, all_keys=all_keys),
        "params": diff_files(old.params, new.params, all_keys=all_keys),
    }


def metrics_show(
    root: Path, *, files: ShowFiles, revs: Sequence[str] | None = None
) -> dict[str, Any]:
    """``dvc metrics show --json``: keyed by ``""`` for the workspace alone, else by rev."""
    labels = ["" if revs is None else WORKSPACE, *(revs or ())]
    datas = load_revisions(root, files, [WORKSPACE, *(revs or ())])
    shown: dict[str, Any] = {}
    for label, data in zip(labels, datas):
        shown[label] = {
            "data": {
                rel: {"error": fd.error.to_dict()} if fd.error else {"data": dict(fd.data)}
                for rel, fd in data.metrics.items()
            }
        }
    return shown


def _fmt(value: Any, rounding: Rounding) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if rounding == "significant":
            return f"{value:.5g}"
        if rounding == "decimal":
            return str(round(value, 5))
    return str(value)


def diff_table(
    diff: Mapping[str, Mapping[str, Mapping[str, Any]]],
    *,
    kind: Literal["Metric", "Param"],
    labels: tuple[str, str],
    rounding: Rounding,
    change: bool = True,
    unsupported: str = "-",
    markdown: bool = False,
) -> str:
    """Render a diff as DVC's ``Path, Metric|Param, <a>, <b>[, Change]`` table.

    ``unsupported`` fills ``Change`` where no diff exists: ``exp diff`` prints
    ``diff not supported``, ``metrics diff`` prints ``-``.
    """
    headers = ["Path", kind, *labels] + (["Change"] if change else [])
    cells = []
    for file, keys in sorted(diff.items()):
        for key, entry in sorted(keys.items()):
            line = [file, key, _fmt(entry["old"], rounding), _fmt(entry["new"], rounding)]
            if change:
                line.append(_fmt(entry["diff"], rounding) if "diff" in entry else unsupported)
            cells.append(line)
    return markdown_table(headers, cells) if markdown else plain_table(headers, cells)


def metrics_show_table(shown: Mapping[str, Any], *, markdown: bool = False) -> str:
    """DVC's ``metrics show`` table: ``[Revision,] Path`` and sorted flattened keys."""
    with_rev = list(shown) != [""]
    rows: list[tuple[str, str, dict[str, Any]]] = []
    for rev, body in shown.items():
        for rel, entry in body["data"].items():
            rows.append((rev, rel, FileData(entry.get("data", {})).flat))
    keys = sorted({key for _, _, flat in rows for key in flat})
    headers = (["Revision"] if with_rev else []) + ["Path", *keys]
    cells = [
        ([rev] if with_rev else []) + [rel, *(_fmt(flat.get(k), "decimal") for k in keys)]
        for rev, rel, flat in rows
    ]
    return markdown_table(headers, cells) if markdown else plain_table(headers, cells)


def plain_table(headers: Sequence[str], cells: Sequence[Sequence[str]]) -> str:
    """Space-aligned columns, each at least its header plus two wide, like DVC's."""
    widths = [max([len(h) + 2, *(len(line[i]) for line in cells)]) for i, h in enumerate(headers)]
    lines = [
        "  ".join(v.ljust(w) for v, w in zip(values, widths)).rstrip()
        for values in [headers, *cells]
    ]
    return "\n".join(lines) + "\n"
