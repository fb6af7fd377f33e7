"""``add``: track files and directories with ``.dvc`` files, as ``dvc add`` 3.67.1 does.

Provides:
    AddOptions: the command's flags (``--no-commit``, ``--glob``, ``-o``,
        ``-f``, ``--no-relink``).
    AddResult: the ``.dvc`` files written and the files Git should stage.
    add(root, cwd, targets, options): the command.

DVC's order (``dvc/repo/add.py``): expand globs; resolve each target and
find its owner among all outs (``find_outs_by_path(strict=False)``): a stage
out is refused (``PIPELINE_TRACKED_UPDATE_FMT``), an existing ``.dvc`` out
is updated, a path inside a ``.dvc``-tracked directory updates that
directory's entry; then the graph check (a new out containing another out:
``OVERLAPPING_PARENT_FMT``); then each target is hashed, cached and its
``.dvc`` file and ``.gitignore`` line written. Unlike DVC, a missing target
is found before anything is written, so a refused command changes nothing.
"""

from __future__ import annotations

import glob as globlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from prefect_dvc.errors import TrackedDataError
from prefect_dvc.gitignore import ensure_ignored
from prefect_dvc.storage.hashinfo import HashInfo, Tree
from prefect_dvc.storage.hashing import Hasher
from prefect_dvc.storage.stores import Stores
from prefect_dvc.tracked.dvcfiles import DvcFileWriter, tracked_entry
from prefect_dvc.tracked.granular import add_inside
from prefect_dvc.tracked.outs import OwnedOut, collect_outs, find_inside, find_owner
from prefect_dvc.tracked.save import hash_path, save_to_cache
from prefect_dvc.tracked.targets import Target, resolve_target, show

PIPELINE_TRACKED_UPDATE_FMT = (
    "cannot update {out!r}: overlaps with an output of {stage} in '{path}'.\n"
    "Run the pipeline or use 'dvc commit' to force update it."
)
OVERLAPPING_PARENT_FMT = (
    "Cannot add '{parent}', because it is overlapping with other "
    "DVC tracked output: '{out}'.\n"
    "To include '{out}' in '{parent}', run "
    "'dvc remove {out_stage}' and then 'dvc add {parent}'"
)


@dataclass(frozen=True)
class AddOptions:
    """``dvc add``'s flags (``--to-remote``/``-r``/``--remote-jobs`` are not supported)."""

    no_commit: bool = False
    glob: bool = False
    out: str | None = None
    force: bool = False
    relink: bool = True


@dataclass(frozen=True)
class AddResult:
    """What ``add`` wrote: ``.dvc`` files and the files for ``git add`` (repo paths, in order)."""

    dvcfiles: tuple[str, ...]
    to_track: tuple[str, ...]


@dataclass(frozen=True)
class _Plan:
    target: Target
    owner: OwnedOut | None
    source: str | None = None  # -o: the path the data comes from


def expand_targets(cwd: Path, targets: Sequence[str], use_glob: bool) -> list[str]:
    """DVC's ``glob_targets``: with ``--glob``, shell wildcards (``**`` recursive).

    Raises:
        TrackedDataError: ``Glob [...] has no matches.``
    """
    if not use_glob:
        return list(targets)
    found = [
        os.path.relpath(match, cwd) if not os.path.isabs(t) else match
        for t in targets
        for match in sorted(globlib.glob(os.path.join(cwd, t), recursive=True))
    ]
    if not found:
        raise TrackedDataError(f"Glob {list(targets)!r} has no matches.")
    return found


def check_options(targets: Sequence[str], options: AddOptions) -> None:
    """DVC's ``CmdAdd.validate_args`` for ``--out``.

    Raises:
        TrackedDataError: ``--out`` with several targets, ``--glob`` or ``--no-commit``.
    """
    if options.out is None:
        return
    invalid = None
    if len(targets) != 1:
        invalid = "multiple targets"
    elif options.glob:
        invalid = "--glob option"
    elif options.no_commit:
        invalid = "--no-commit option"
    if invalid:
        raise TrackedDataError(f"{invalid} can't be used with --out")


def add(
    root: Path,
    cwd: Path,
    stores: Stores,
    hasher: Hasher,
    targets: Sequence[str],
    options: AddOptions,
) -> AddResult:
    """Track ``targets`` (paths relative to ``cwd``) with ``.dvc`` files.

    Raises:
        TrackedDataError: a refusal in DVC's words; nothing is written.
        StorageError: a file changed while being added, or no link type works.
    """
    check_options(targets, options)
    names = expand_targets(cwd, targets, options.glob)
    outs = collect_outs(root)
    # NOTE: 'a' and './a' are one target, as DVC's dict of targets makes them
    unique = {}
    for raw in names:
        plan = _plan(root, cwd, raw, options, outs)
        unique.setdefault(plan.target.repo_path, plan)
    plans = list(unique.values())
    _check_graph(root, cwd, plans, outs)
    # NOTE: every target is hashed (and an unhashable one refused) before the
    # first one changes the cache or the workspace.
    hashed = [hash_path(hasher, Path(p.source or p.target.abspath)) for p in plans]
    writer = DvcFileWriter(root)
    tracked: list[str] = []
    for plan, (info, tree) in zip(plans, hashed, strict=True):
        if plan.owner is not None and plan.owner.repo_path != plan.target.repo_path:
            add_inside(
                stores,
                (info, tree),
                writer,
                plan.owner,
                plan.target,
                commit=not options.no_commit,
                relink=options.relink,
            )
            tracked.append(plan.owner.dvcfile)
            continue
        dvcfile = plan.owner.dvcfile if plan.owner else plan.target.dvcfile
        _add_one(root, stores, (info, tree), writer, plan, dvcfile, options)
        tracked.append(dvcfile)
    return AddResult(tuple(dict.fromkeys(tracked)), writer.changed())


def _plan(root: Path, cwd: Path, raw: str, options: AddOptions, outs: Sequence[OwnedOut]) -> _Plan:
    source = None
    if options.out is not None:
        source = os.path.normpath(os.path.join(cwd, raw))
        raw = _resolve_output(cwd, raw, options.out, options.force)
    target = resolve_target(root, cwd, raw)
    owner = find_owner(outs, target.repo_path)
    if owner is not None and not owner.is_data_source:
        raise TrackedDataError(
            PIPELINE_TRACKED_UPDATE_FMT.format(
                out=target.name, stage=owner.stage_text(), path=owner.dvcfile
            )
        )
    if source is not None and not os.path.lexists(source):
        raise TrackedDataError(f"[Errno 2] No such file or directory: '{source}'")
    if source is None and not os.path.lexists(target.abspath):
        raise TrackedDataError(
            f"output '{target.name}' does not exist: [Errno 2] "
            f"No such file or directory: '{target.abspath}'"
        )
    return _Plan(target, owner, source)


def _resolve_output(cwd: Path, raw: str, out: str, force: bool) -> str:
    """DVC's ``resolve_output``: ``-o DIR`` puts the data at ``DIR/<name>``."""
    name = os.path.basename(os.path.normpath(raw))
    dest = os.path.join(out, name) if os.path.isdir(os.path.join(cwd, out)) else out
    full = os.path.join(cwd, dest)
    if os.path.exists(full) and not force:
        kind = "directory" if os.path.isdir(full) else "file"
        raise TrackedDataError(
            f"The {kind} '{dest}' already exists locally. To override it, re-run with '--force'."
        )
    return dest


def _check_graph(root: Path, cwd: Path, plans: Sequence[_Plan], outs: Sequence[OwnedOut]) -> None:
    """DVC's ``check_graph`` for the new outs: none may contain another out."""
    new = [OwnedOut(p.target.repo_path, p.target.dvcfile) for p in plans if p.owner is None]
    for plan in plans:
        if plan.owner is not None:
            continue
        path = plan.target.repo_path
        others = [o for o in (*outs, *new) if o.repo_path != path]
        inside = find_inside(others, path)
        if inside is not None:
            raise TrackedDataError(
                OVERLAPPING_PARENT_FMT.format(
                    parent=show(root, cwd, path),
                    out=show(root, cwd, inside.repo_path),
                    out_stage=inside.addressing,
                )
            )


def _add_one(
    root: Path,
    stores: Stores,
    hashed: tuple[HashInfo, Tree | None],
    writer: DvcFileWriter,
    plan: _Plan,
    dvcfile: str,
    options: AddOptions,
) -> None:
    target = plan.target
    previous = writer.read_entry(dvcfile, target.repo_path)
    use_cache = previous is None or previous.get("cache", True) is not False
    source = Path(plan.source) if plan.source else Path(target.abspath)
    info, tree = hashed
    if plan.source is not None:
        # -o: the source stays; its bytes are copied in and checked out at the target
        stores.save(source, info, tree)
        stores.checkout(info, Path(target.abspath))
    elif use_cache and not options.no_commit:
        save_to_cache(stores, source, info, tree, relink=options.relink)
    if use_cache and ensure_ignored(root, target.repo_path):
        writer.touched(_gitignore_of(target.repo_path))
    writer.write(dvcfile, tracked_entry(dvcfile, target.repo_path, info, previous))


def _gitignore_of(repo_path: str) -> str:
    folder = os.path.dirname(repo_path)
    return f"{folder}/.gitignore" if folder else ".gitignore"
