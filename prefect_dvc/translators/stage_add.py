"""``stage add``: command-line arguments -> one ``dvc.yaml`` stage entry, as DVC 3 builds it.

Provides:
    OutArg, StageArgs: the parsed ``stage add`` arguments (frozen).
    OUT_OPTIONS: the out options in DVC's fill order with their flags.
    parse_cmd(argv): the ``cmd`` string DVC makes of the command words.
    parse_params(values): ``-p`` values grouped by params file.
    def_path(path, root, wdir): the path as DVC writes it in ``dvc.yaml``.
    check_args(args, root, wdir): DVC's refusals before anything is written.
    stage_entry(args, root, wdir, dvcfile_dir): the ordered stage mapping.

Follows ``dvc/commands/stage.py`` (``parse_cmd``), ``dvc/utils/cli_parse.py``
(``parse_params``), ``dvc/stage/__init__.py::create_stage`` and
``dvc/stage/utils.py`` (the checks), ``dvc/output.py`` (``def_path``) and
``dvc/stage/serialize.py::to_pipeline_file`` (key order, sorting, flags).
Pure: no file is read or written here.
"""

from __future__ import annotations

import os
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect_dvc.errors import DvcYamlError, PipelineError

DEFAULT_PARAMS_FILE = "params.yaml"
#: DVC's ``INVALID_STAGENAME_CHARS``: punctuation but ``_`` and ``-``.
INVALID_NAME_CHARS = frozenset(string.punctuation) - {"_", "-"}
#: ``dvc stage add``'s out options in ``fill_stage_outputs`` order: (key, cache, persist, kind).
OUT_OPTIONS: tuple[tuple[str, bool, bool, str], ...] = (
    ("outs_persist", True, True, "outs"),
    ("outs_persist_no_cache", False, True, "outs"),
    ("metrics", True, False, "metrics"),
    ("metrics_no_cache", False, False, "metrics"),
    ("plots", True, False, "plots"),
    ("plots_no_cache", False, False, "plots"),
    ("outs_no_cache", False, False, "outs"),
    ("outs", True, False, "outs"),
)
_PROTECTED_FILES = frozenset({"dvc.yaml", "dvc.lock"})


@dataclass(frozen=True)
class OutArg:
    """One out given on the command line.

    Attributes:
        path: as typed (relative to the stage's ``wdir``, or absolute).
        cache: ``False`` for the ``*-no-cache`` options (``cache: false``).
        persist: ``True`` for ``--outs-persist*`` (``persist: true``).
        kind: ``outs``, ``metrics`` or ``plots``: the ``dvc.yaml`` list it goes to.
    """

    path: str
    cache: bool = True
    persist: bool = False
    kind: str = "outs"


@dataclass(frozen=True)
class StageArgs:
    """Everything ``stage add`` was given.

    Attributes:
        name: the stage name (``-n``).
        cmd: the command, already joined by :func:`parse_cmd`.
        deps: ``-d`` paths as typed.
        params: ``(params file, keys)`` pairs from :func:`parse_params`.
        outs: every out option, in :data:`OUT_OPTIONS` order.
        wdir: ``-w`` as typed, relative to the current folder (``None``: the current folder).
        always_changed: ``--always-changed``.
        desc: ``--desc``.
    """

    name: str
    cmd: str
    deps: tuple[str, ...] = ()
    params: tuple[tuple[str, tuple[str, ...]], ...] = ()
    outs: tuple[OutArg, ...] = ()
    wdir: str | None = None
    always_changed: bool = False
    desc: str | None = None


def parse_cmd(argv: Sequence[str]) -> str:
    """The ``cmd`` DVC stores for the command words (``dvc/commands/stage.py::parse_cmd``).

    One word is kept as is (a quoted whole command); several are joined with
    spaces, a word with a space and no ``"`` wrapped in ``"..."``, an empty
    word written ``""``.
    """
    if len(argv) < 2:
        return " ".join(argv)
    return " ".join(_quote_word(word) for word in argv)


def _quote_word(word: str) -> str:
    if not word:
        return '""'
    if " " in word and '"' not in word:
        return f'"{word}"'
    return word


def parse_params(values: Iterable[str]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``-p [file:]k1,k2`` values grouped by file, in first-seen order (``parse_params``).

    The file is what precedes the last ``:`` (default ``params.yaml``); empty
    keys are dropped, so ``-p file.yaml:`` depends on the whole file.
    Duplicated keys are kept, as DVC keeps them.
    """
    grouped: dict[str, list[str]] = {}
    for value in values:
        path, _, keys = value.rpartition(":")
        grouped.setdefault(path or DEFAULT_PARAMS_FILE, []).extend(k for k in keys.split(",") if k)
    return tuple((path, tuple(keys)) for path, keys in grouped.items())


def def_path(path: str, root: Path, wdir: Path) -> str:
    """``path`` as DVC writes it: an absolute path inside the repo becomes relative to ``wdir``.

    Anything else (relative, outside the repo, a URL) stays as typed
    (``Output.__init__`` in ``dvc/output.py``).
    """
    if os.path.isabs(path) and _is_inside(Path(os.path.normpath(path)), root):
        return Path(os.path.relpath(os.path.normpath(path), wdir)).as_posix()
    return path


def _is_inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _absolute(path: str, wdir: Path) -> Path:
    return Path(os.path.normpath(os.path.join(wdir, path)))


def check_args(args: StageArgs, root: Path, wdir: Path) -> None:
    """DVC's refusals of ``stage add`` arguments, in DVC's order.

    Args:
        args: the parsed arguments.
        root: the repository root (absolute).
        wdir: the stage's working folder (absolute); its existence is checked here.

    Raises:
        DvcYamlError: no command, or a name with punctuation.
        PipelineError: ``wdir`` missing, not a folder or outside the repo; an
            out that is a pipeline file or inside ``.git``/``.dvc``; a cached
            out outside the repo; a path that is both dep and out, or given twice.
    """
    if not args.cmd:
        raise DvcYamlError("command is not specified", hint="Give it after the options")
    if not args.name:
        raise DvcYamlError("`-n|--name` is required", hint="Name the stage with -n NAME")
    if INVALID_NAME_CHARS & set(args.name):
        raise DvcYamlError(
            f"stage name '{args.name}' cannot contain punctuation characters",
            hint="Use letters, digits, '_' and '-'",
        )
    _check_wdir(args.wdir, root, wdir)
    for out in args.outs:
        _check_out(out, root, wdir)
    outs = [_absolute(o.path, wdir) for o in args.outs]
    deps = [_absolute(d, wdir) for d in args.deps]
    for path in outs:
        if path in deps:
            raise PipelineError(
                f"'{_shown(path, root)}' is specified as an output and as a dependency",
                hint="A stage cannot read what it writes; drop one of the two",
            )
    seen: set[Path] = set()
    for path in [*outs, *deps]:
        if path in seen:
            raise PipelineError(
                f"file '{_shown(path, root)}' is specified more than once",
                hint="Give each path once",
            )
        seen.add(path)


def _shown(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() if _is_inside(path, root) else str(path)


def _check_wdir(typed: str | None, root: Path, wdir: Path) -> None:
    if typed is None:
        return
    if not wdir.exists():
        raise PipelineError(f"stage working dir '{typed}' does not exist", hint="Create it first")
    if not wdir.is_dir():
        raise PipelineError(f"stage working dir '{typed}' is not directory")
    if not _is_inside(wdir.resolve(), root.resolve()):
        raise PipelineError(f"stage working dir '{typed}' is outside of DVC repo")


def _check_out(out: OutArg, root: Path, wdir: Path) -> None:
    path = _absolute(out.path, wdir)
    if not _is_inside(path, root):
        if out.cache:
            raise PipelineError(
                f"Cached output(s) outside of DVC project: {out.path}",
                hint="Use an out inside the repository, or the no-cache option (-O, -M, "
                "--plots-no-cache)",
            )
        return
    rel = path.relative_to(root)
    if path.name in _PROTECTED_FILES or path.suffix == ".dvc":
        raise PipelineError(f"DVC file '{out.path}' cannot be an output")
    if path == root or rel.parts[0] in (".git", ".dvc"):
        raise PipelineError(
            f"'{out.path}' cannot be an output: it is the repository or inside .git/.dvc",
            hint="Declare a path of the workspace",
        )


def stage_entry(args: StageArgs, root: Path, wdir: Path, dvcfile_dir: Path) -> dict[str, Any]:
    """The stage mapping DVC dumps (``to_pipeline_file``), keys in DVC's order, empty ones left out.

    ``desc, cmd, wdir, deps, params, outs, metrics, plots, always_changed``;
    deps and outs sorted by their written path, params of ``params.yaml``
    first (keys sorted), then other files in path order as ``{file: keys}``
    (``None`` when the whole file is a dependency).
    """
    wdir_text = Path(os.path.relpath(wdir, dvcfile_dir)).as_posix()
    outs: dict[str, list[Any]] = {"outs": [], "metrics": [], "plots": []}
    for out in sorted(args.outs, key=lambda o: def_path(o.path, root, wdir)):
        outs[out.kind].append(_out_entry(out, def_path(out.path, root, wdir)))
    entry = [
        ("desc", args.desc),
        ("cmd", args.cmd),
        ("wdir", None if wdir_text == "." else wdir_text),
        ("deps", sorted(def_path(d, root, wdir) for d in args.deps)),
        ("params", _params_entry(args.params)),
        *outs.items(),
        ("always_changed", args.always_changed),
    ]
    return {key: value for key, value in entry if value}


def _out_entry(out: OutArg, path: str) -> Any:
    flags: dict[str, bool] = {}
    if not out.cache:
        flags["cache"] = False
    if out.persist:
        flags["persist"] = True
    return {path: flags} if flags else path


def _params_entry(params: Sequence[tuple[str, Sequence[str]]]) -> list[Any]:
    keys: list[Any] = []
    for path, names in sorted(params, key=lambda p: p[0]):
        if names and path == DEFAULT_PARAMS_FILE:
            keys = sorted(names) + keys
        else:
            keys.append({path: sorted(names) or None})
    return keys
