"""Write a ``stage add`` entry into ``dvc.yaml``, as ``dvc stage add`` does.

Provides:
    AddedStage: what was written (the file, the ``.gitignore`` files touched).
    add_stage(root, cwd, args, force): check, write ``cwd/dvc.yaml``, check the
        whole pipeline, ignore the cached outs; the file is restored on refusal.

Follows ``dvc/repo/stage.py::StageLoad.add`` and ``dvc/dvcfile.py::
ProjectFile._dump_pipeline_file``: the file is loaded with ruamel's round-trip
parser and dumped with ``YAML()`` and ``default_flow_style = False``
(``dvc/utils/serialize/_yaml.py``), so comments, key order and line width stay
DVC's bytes. An existing stage (``--force``) is updated with DVC's
``apply_diff`` rules so its comments survive, and keeps its old ``desc`` and
``meta`` and each kept out's ``desc``/``type``/``labels``/``meta``/``remote``/
``push`` (``restore_fields``: DVC drops a new ``--desc`` on an existing stage).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from prefect_dvc.errors import DvcYamlError, InterpolationError, PrefectDvcError
from prefect_dvc.gitignore import ensure_ignored, ignore_entry
from prefect_dvc.translators import load_pipeline
from prefect_dvc.translators.stage_add import StageArgs, check_args, def_path, stage_entry
from prefect_dvc.yamlio import atomic_write, parse_yaml

_OUT_FIELDS = ("desc", "type", "labels", "meta", "remote", "push")


@dataclass(frozen=True)
class AddedStage:
    """The outcome of :func:`add_stage`.

    Attributes:
        dvcfile: the ``dvc.yaml`` written, relative to the root (POSIX).
        created: ``True`` when the file did not exist before.
        gitignores: ``.gitignore`` files that got a line, relative to the root.
    """

    dvcfile: str
    created: bool
    gitignores: tuple[str, ...]


def _yaml() -> YAML:
    yaml = YAML()
    yaml.default_flow_style = False
    return yaml


def add_stage(root: Path, cwd: Path, args: StageArgs, *, force: bool) -> AddedStage:
    """Add (or with ``force`` replace) stage ``args.name`` in ``cwd/dvc.yaml``.

    Args:
        root: repository root (absolute).
        cwd: the folder whose ``dvc.yaml`` gets the stage (inside ``root``).
        args: parsed ``stage add`` arguments; paths relative to ``cwd``/``wdir``.
        force: replace a stage of that name instead of refusing.

    Returns:
        The file written and the ``.gitignore`` files that got a cached out's line.

    Raises:
        DvcYamlError: the stage exists (without ``force``), the file is not
            a mapping, or what :func:`check_args` refuses.
        PipelineError: the new pipeline does not hold (an out shared with or
            overlapping another stage's, a cycle); the file is then restored.
    """
    wdir = (cwd / args.wdir).resolve() if args.wdir else cwd
    check_args(args, root, wdir)
    path = cwd / "dvc.yaml"
    display = path.relative_to(root).as_posix()
    old_text = path.read_text(encoding="utf-8") if path.exists() else None
    data = _load(old_text, display)
    stages = data.setdefault("stages", CommentedMap())
    entry = stage_entry(args, root, wdir, cwd)
    if args.name in stages and not force:
        raise DvcYamlError(
            f"Stage '{args.name}' already exists in '{display}'", hint="Use '--force' to overwrite"
        )
    if args.name in stages:
        old = stages[args.name]
        _restore_fields(entry, old)
        _apply_diff(entry, old)
    else:
        stages[args.name] = entry
    _write_checked(root, path, display, _dump(data), old_text, args.name)
    return AddedStage(display, old_text is None, _ignore_outs(root, args, wdir))


def _load(text: str | None, display: str) -> Any:
    if text is None:
        return CommentedMap()
    parse_yaml(text, display)  # NOTE: our one-line syntax error before the round-trip parse
    data = _yaml().load(text)
    if data is None:
        return CommentedMap()
    if not isinstance(data, Mapping) or not isinstance(data.get("stages", {}), Mapping):
        raise DvcYamlError(
            "expected a mapping with a 'stages' mapping", path=display, hint="Fix the file first"
        )
    return data


def _dump(data: Any) -> str:
    stream = io.StringIO()
    _yaml().dump(data, stream)
    return stream.getvalue()


def _write_checked(
    root: Path, path: Path, display: str, text: str, old: str | None, name: str
) -> None:
    """Write ``text``, load the pipeline, and put the old bytes back if it does not hold.

    A ``${...}`` in the new stage itself that does not resolve yet is kept:
    DVC never interpolates the stage it adds (the params file may come later).
    """
    atomic_write(path, text)
    try:
        load_pipeline(root, display)
    except InterpolationError as exc:
        if exc.stage != name:
            _restore(path, old)
            raise
    except PrefectDvcError:
        _restore(path, old)
        raise


def _restore(path: Path, old: str | None) -> None:
    if old is None:
        path.unlink()
    else:
        atomic_write(path, old)


def _restore_fields(entry: dict[str, Any], old: Any) -> None:
    """DVC's ``restore_fields``: the old stage's ``desc``/``meta`` and kept outs' annotations."""
    if not isinstance(old, Mapping):
        return
    for key in ("desc", "meta"):
        entry.pop(key, None)
    head = {k: old[k] for k in ("desc",) if old.get(k)}
    tail = {k: old[k] for k in ("meta",) if old.get(k)}
    old_flags = _out_flags(old)
    for kind in ("outs", "metrics", "plots"):
        if kind in entry:
            entry[kind] = [_with_old_flags(item, old_flags) for item in entry[kind]]
    rebuilt = {**head, **entry, **tail}
    entry.clear()
    entry.update(rebuilt)


def _out_flags(old: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    flags: dict[str, dict[str, Any]] = {}
    for kind in ("outs", "metrics", "plots"):
        for item in old.get(kind) or []:
            if isinstance(item, Mapping):
                for path, value in item.items():
                    value = value if isinstance(value, Mapping) else {}
                    flags[str(path)] = {k: value[k] for k in _OUT_FIELDS if k in value}
    return flags


def _with_old_flags(item: Any, old_flags: Mapping[str, Mapping[str, Any]]) -> Any:
    path, flags = (item, {}) if isinstance(item, str) else next(iter(item.items()))
    kept = old_flags.get(path)
    if not kept:
        return item
    # NOTE: DVC's _get_flags order: annotations first, then cache/persist, then remote/push.
    annot = {k: kept[k] for k in ("desc", "type", "labels", "meta") if k in kept}
    rest = {k: kept[k] for k in ("remote",) if k in kept}
    push = {"push": kept["push"]} if kept.get("push") is False else {}
    return {path: {**annot, **flags, **rest, **push}}


def _apply_diff(src: Any, dest: Any) -> None:
    """DVC's ``apply_diff`` (``dvc/utils/collections.py``): edit ``dest`` in place to equal ``src``.

    Containers of the same type are edited recursively so ruamel keeps their
    comments; anything else is replaced.
    """
    if isinstance(src, Mapping) and isinstance(dest, Mapping):
        for key, value in src.items():
            if _same_container(value, dest.get(key)):
                _apply_diff(value, dest[key])
            elif key not in dest or value != dest[key]:
                dest[key] = value
        for key in set(dest) - set(src):
            del dest[key]
    elif isinstance(src, list) and isinstance(dest, list):
        if len(src) != len(dest):
            dest[:] = src
            return
        for index, value in enumerate(src):
            if _same_container(value, dest[index]):
                _apply_diff(value, dest[index])
            elif value != dest[index]:
                dest[index] = value


def _same_container(a: Any, b: Any) -> bool:
    return (isinstance(a, Mapping) and isinstance(b, Mapping)) or (
        isinstance(a, list) and isinstance(b, list)
    )


def _ignore_outs(root: Path, args: StageArgs, wdir: Path) -> tuple[str, ...]:
    """``.gitignore`` lines for the cached outs inside the repo, in DVC's fill order.

    As ``Stage.ignore_outs`` in DVC: the first out whose folder does not exist
    ends the loop (DVC catches that ``FileNotFoundError`` and warns).
    """
    touched: list[str] = []
    for out in args.outs:
        if not out.cache:
            continue
        target = (wdir / def_path(out.path, root, wdir)).resolve()
        if not target.is_relative_to(root):
            continue
        repo_path = target.relative_to(root).as_posix()
        if not target.parent.is_dir():
            # NOTE: DVC's ignore_outs stops at the first out whose folder does not
            # exist yet ("Could not create .gitignore entry"); the run adds them.
            break
        if ensure_ignored(root, repo_path):
            gitignore = ignore_entry(root, repo_path)[1].relative_to(root).as_posix()
            if gitignore not in touched:
                touched.append(gitignore)
    return tuple(touched)
