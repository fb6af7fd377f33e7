"""Refuse, when ``dvc.yaml`` loads, every out whose deletion would destroy the user's files.

Provides:
    check_outs(spec, placed, root, doc, template_at): raise for the first out
        (of ``outs``, ``metrics`` or ``plots``) that may never be deleted.
    vars_files(doc, at, base, wdir): the repo-relative files a stage's
        ``vars`` (top-level and its own) read.

An out is deleted before its command runs, so the checks run at load time,
before ``status``, ``dag``, ``repro --dry`` or anything else can act on the
pipeline, and name the file, line, stage and path. The rules are those of
``prefect_dvc/safety.py`` (root, ``.git``/``.dvc``, pipeline files, folders
that are symlinks leaving the repository, folders holding another
repository) plus those that need the stage: the out may not hold the stage's
own ``dvc.yaml``/``dvc.lock`` (DVC's ``StagePathAsOutputError``), nor a folder
with a ``dvc.yaml``/``dvc.lock`` at its top, nor be a ``vars`` file. Deps
and params of the same stage are refused by ``Pipeline.build`` (DVC's
circular dependency), where an upstream stage writing another stage's params
file becomes an edge instead.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from prefect_dvc.errors import UnsafePathError
from prefect_dvc.external import is_url
from prefect_dvc.safety import DVC_FILE_REFUSAL, out_refusal, workspace_refusal
from prefect_dvc.translators.dvcyaml import DvcYamlDoc
from prefect_dvc.translators.pipeline import Out, StageSpec

At = tuple[Any, ...]


def _overlaps(a: str, b: str) -> bool:
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def _template(doc: DvcYamlDoc, at: At) -> Mapping[str, Any]:
    node: Any = doc.data
    for key in at:
        node = node.get(key, {}) if isinstance(node, Mapping) else {}
    return node if isinstance(node, Mapping) else {}


def _files(entries: Any, base: str) -> list[str]:
    if not isinstance(entries, list):
        return []
    return [
        posixpath.normpath(posixpath.join(base, entry.partition(":")[0]))
        for entry in entries
        if isinstance(entry, str)
    ]


def vars_files(doc: DvcYamlDoc, at: At, base: str, wdir: str) -> list[str]:
    """Files named in top-level ``vars`` (relative to ``base``) and the stage's (to ``wdir``).

    The implicit ``params.yaml`` is not a vars file here: a stage may write
    it for a later stage, as DVC allows.
    """
    return _files(doc.data.get("vars"), base) + _files(_template(doc, at).get("vars"), wdir)


def _refusal(spec: StageSpec, out: Out, root: Path, loaded_vars: Sequence[str]) -> str | None:
    reason = out_refusal(out.repo_path)
    if reason is not None:
        return reason
    lock = posixpath.join(posixpath.dirname(spec.dvcfile), "dvc.lock")
    for own in (posixpath.normpath(spec.dvcfile), posixpath.normpath(lock)):
        if _overlaps(own, out.repo_path):
            return f"stage '{spec.name}' is within it (its file '{own}')"
    for file in loaded_vars:
        if _overlaps(file, out.repo_path):
            return f"'{file}' is a vars file of this pipeline"
    folder = root.joinpath(*out.repo_path.split("/"))
    for name in ("dvc.yaml", "dvc.lock"):
        # NOTE: only the folder's top level: a walk would cost every status a
        # listing of each out folder.
        if folder.is_dir() and not folder.is_symlink() and (folder / name).exists():
            return f"it holds the pipeline file '{out.repo_path}/{name}'"
    return workspace_refusal(root, out.repo_path)


def _external_refusal(root: Path, out: Out) -> str | None:
    """An uncached external out may not hold the repository (``/``, ``..``): it is hashed."""
    if is_url(out.repo_path):
        return None
    target = os.path.realpath(os.path.join(root, out.repo_path))
    real_root = os.path.realpath(root)
    if os.path.commonpath([target, real_root]) == target:
        return "it contains the repository"
    return None


def check_outs(
    spec: StageSpec,
    placed: Sequence[tuple[Out, At]],
    root: Path,
    doc: DvcYamlDoc,
    template_at: At,
) -> None:
    """Raise for the first out of ``spec`` that may never be deleted or replaced.

    ``placed`` pairs each out with its key path below the stage template
    (``("outs", 0)``), for the line number.

    Raises:
        UnsafePathError: ``dvc.yaml:LINE: stage 'NAME': cannot use output 'PATH': WHY``
            (or DVC's ``DVC file 'dvc.yaml' cannot be an output``).
    """
    base = posixpath.dirname(posixpath.normpath(spec.dvcfile)) or "."
    loaded_vars = vars_files(doc, template_at, base, spec.wdir)
    for out, at in placed:
        # NOTE: an external out (cache: false, outside the repository) is the
        # user's file: hashed for the lock, never deleted (external.py).
        reason = (
            _external_refusal(root, out)
            if out.is_external
            else _refusal(spec, out, root, loaded_vars)
        )
        if reason is None:
            continue
        msg = (
            f"DVC file '{out.path}' cannot be an output"
            if reason == DVC_FILE_REFUSAL
            else f"cannot use output '{out.path}': {reason}"
        )
        raise UnsafePathError(
            msg,
            path=doc.path,
            line=doc.line(*template_at, *at),
            stage=spec.name,
            hint="Declare as outs only the files and folders the command writes",
        )
