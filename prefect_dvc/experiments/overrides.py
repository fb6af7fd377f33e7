"""``exp run -S`` overrides: parse them, expand sweeps, edit params files in place.

Provides:
    Override: one ``[file:]override`` as the user wrote it, parsed.
    parse_override(text): Hydra's override grammar (``key=value``, ``+key=v``,
        ``++key=v``, ``~key``), exactly as DVC reads ``-S``.
    expand_sweeps(texts, queue=...): Hydra's choice (``a=1,2``), ``range(...)``
        and friends become one list of plain overrides per experiment; a sweep
        without ``--queue`` is refused, as DVC does.
    apply_overrides(root, overrides): edit the params files (YAML, JSON, TOML,
        ``.py``) as DVC's ``apply_overrides`` does, byte for byte.
    rebase_to_root(texts, root, cwd): ``-S`` files typed in a subfolder, made
        root-relative (DVC reads them from the current folder).

All files are edited in memory first and written only when every override
applied cleanly, so a typo in the third ``-S`` leaves all files untouched.

DVC: ``dvc/utils/cli_parse.py`` (``to_path_overrides``), ``dvc/utils/hydra.py``
(``apply_overrides``, ``get_hydra_sweeps``), ``dvc/repo/experiments/run.py``
("Sweep overrides can't be used without `--queue`"). hydra-core is DVC's own
choice; it is imported (in ``override_grammar``) only when an override is
really parsed, because it costs ~120 ms and ``status`` must not pay it.
"""

from __future__ import annotations

import itertools
import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect_dvc.errors import ConfigError, UnsafePathError
from prefect_dvc.safety import check_write_target, workspace_refusal
from prefect_dvc.yamlio import atomic_write

DEFAULT_PARAMS = "params.yaml"


@dataclass(frozen=True)
class Override:
    """``file:text``, parsed with Hydra's grammar.

    Attributes:
        file: the params file, repo-relative (``params.yaml`` when not given).
        key: the dotted key, e.g. ``train.lr``.
        value: the value as DVC writes it (``'007'`` stays a string, ``{a:1}``
            is a dict, ``inf`` a float); ``None`` for ``~key``.
        add: ``+key`` (the key must not exist yet).
        delete: ``~key`` (or ``~key=value``: only when it has that value).
        force_add: ``++key`` (add or override).
        text: the override as written after ``file:``, e.g. ``+train.lr=0.1``.
    """

    file: str
    key: str
    value: Any = None
    add: bool = False
    delete: bool = False
    force_add: bool = False
    text: str = ""

    def __str__(self) -> str:
        return f"{self.file}:{self.text}"


def _split_file(text: str) -> tuple[str, str]:
    """``(params file, override)``: DVC splits at the first ``:`` when one comes before ``=``."""
    head = text.partition("=")[0]
    if ":" in head:
        file, _, rest = text.partition(":")
        return file, rest
    return DEFAULT_PARAMS, text


def _grammar() -> Any:
    """hydra-core, behind the one lazy boundary (~120 ms to import)."""
    from prefect_dvc.experiments import override_grammar

    return override_grammar


def parse_override(text: str) -> Override:
    """Parse one ``-S`` value with Hydra's override grammar, as DVC does.

    Raises:
        ConfigError: the override does not parse (one line naming it), or it is a
            sweep (``a=1,2``), which only ``expand_sweeps`` with ``--queue`` accepts.
    """
    file, rest = _split_file(text)
    (parsed,) = _grammar().parse([rest], text[: len(text) - len(rest)])
    if parsed.sweep:
        raise ConfigError(
            f"-S '{text}' is a sweep; sweep overrides can't be used without --queue",
            hint="Add --queue to queue one experiment per combination",
        )
    return Override(
        file=file,
        key=parsed.key,
        value=parsed.value,
        add=parsed.kind == "add",
        delete=parsed.kind == "delete",
        force_add=parsed.kind == "force_add",
        text=parsed.text,
    )


def _by_file(texts: Iterable[str]) -> dict[str, list[str]]:
    """Overrides grouped by params file, in order of first mention (DVC's ``to_path_overrides``)."""
    grouped: dict[str, list[str]] = {}
    for text in texts:
        file, rest = _split_file(text)
        grouped.setdefault(file, []).append(rest)
    return grouped


def expand_sweeps(texts: Sequence[str], *, queue: bool = True) -> list[list[str]]:
    """One list of single-valued overrides per experiment.

    Without a sweep this is ``[texts]`` unchanged. With one, Hydra's
    ``BasicSweeper`` enumerates each file's overrides (last varies fastest)
    and the files are combined in order of first mention, as DVC's
    ``get_hydra_sweeps``; quoted commas (``name="a,b"``) are one value.

    Raises:
        ConfigError: an override that does not parse; a sweep when ``queue`` is
            false (DVC: "Sweep overrides can't be used without `--queue`"); a
            ``glob(...)`` sweep.
    """
    if not texts:
        return [[]]
    grouped = _by_file(texts)
    grammar = _grammar()
    sweeps = [
        _join(file, parsed.text)
        for file, rest in grouped.items()
        for parsed in grammar.parse(rest, _join(file, ""))
        if parsed.sweep
    ]
    if not sweeps:
        return [list(texts)]
    if not queue:
        raise ConfigError(
            f"-S '{sweeps[0]}' is a sweep; sweep overrides can't be used without --queue",
            hint="Add --queue to queue one experiment per combination",
        )
    per_file = [
        [[_join(file, item) for item in combo] for combo in grammar.sweep_combinations(rest)]
        for file, rest in grouped.items()
    ]
    return [list(itertools.chain(*combo)) for combo in itertools.product(*per_file)]


def _join(file: str, override: str) -> str:
    return override if file == DEFAULT_PARAMS else f"{file}:{override}"


def _params_path(root: Path, file: str) -> Path:
    """The params file ``file`` of a ``-S`` override, refused outside the repository.

    Raises:
        UnsafePathError: ``file`` is the root, outside it, inside ``.git`` or
            ``.dvc``, or behind a symlinked folder leaving it (``prefect_dvc/safety.py``).
    """
    reason = workspace_refusal(root, file)
    if reason is not None:
        raise UnsafePathError(
            f"-S cannot edit '{file}': {reason}",
            path=file,
            hint="Name a params file inside the repository, e.g. -S params.yaml:key=value",
        )
    return check_write_target(root, file)


def apply_overrides(
    root: Path, overrides: Iterable[Override], *, dry_run: bool = False
) -> list[str]:
    """Edit the params files under ``root``; returns the files changed (repo-relative).

    Each file is edited as DVC's ``apply_overrides`` does: its params go
    through OmegaConf and hydra's own override code, then are merged back
    into the round-trip data (YAML comments, TOML comments and key order
    kept). A file that does not exist starts empty, so only ``+key`` can
    create it. With ``dry_run`` every override is checked and nothing is
    written: the CLI calls it before starting a flow.

    Raises:
        ParamsError: a key missing (without ``+``) or present (with ``+``), a
            params file that cannot be read, or an edit a ``.py`` file cannot take.
        ConfigError: an override that does not parse or is a sweep.
    """
    from prefect_dvc.experiments import params_edit

    grammar = _grammar()
    by_file: dict[str, list[Override]] = {}
    for override in overrides:
        by_file.setdefault(override.file, []).append(override)
    rendered: dict[Path, str] = {}
    for file, items in by_file.items():
        path = _params_path(root, file)
        doc = params_edit.load_for_update(path, file)
        new = grammar.apply(params_edit.plain(doc.data), [o.text for o in items], file)
        params_edit.update(doc, new, file)
        rendered[path] = params_edit.render(doc, file)
    for path, text in rendered.items():
        if not dry_run:
            _write_keeping_mode(path, text)
    return sorted(by_file)


def _write_keeping_mode(path: Path, text: str) -> None:
    """Atomic write that keeps the file's permissions (a new file gets 0666 less the umask).

    ``atomic_write``'s temporary file is 0600; DVC rewrites the file in place,
    so its mode never changes, and a symlinked params file stays a symlink
    (the edit goes to its target).
    """
    path = path.resolve() if path.is_symlink() else path
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o666 & ~_umask()
    atomic_write(path, text)
    os.chmod(path, mode)


def _umask() -> int:
    """The process umask, read without changing it where Linux allows (other threads run)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def rebase_to_root(texts: Sequence[str], root: Path, cwd: Path) -> list[str]:
    """``-S`` overrides typed in ``cwd``, their params files made root-relative.

    DVC opens an override's params file relative to the current folder
    (``_update_params`` passes the path as typed to ``apply_overrides``), so
    from ``sub/`` a bare ``-S a=1`` edits ``sub/params.yaml`` and
    ``-S ../params.yaml:a=1`` the root's. Overrides are otherwise
    root-relative here (:class:`Override`); from the root nothing changes.
    A file leaving the repository stays outside and is refused later.

    Args:
        texts: the ``-S`` values as typed, e.g. ``["train.lr=0.1", "p.yaml:a=1"]``.
        root: the repository root; ``cwd``: the folder the command runs in.

    Returns:
        The same overrides in order, each naming its file from ``root``.
    """
    here = os.path.relpath(cwd.resolve(), root.resolve())
    if here == os.curdir:
        return list(texts)
    rebased = []
    for text in texts:
        file, rest = _split_file(text)
        rel = os.path.normpath(os.path.join(here, file))
        rebased.append(_join(Path(rel).as_posix(), rest))
    return rebased
