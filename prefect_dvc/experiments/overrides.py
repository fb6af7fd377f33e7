"""``exp run -S`` overrides: parse them, expand sweeps, edit params files in place.

Provides:
    Override: one ``[file:][+|~]key=value`` as the user wrote it.
    parse_override(text), expand_sweeps(texts): Hydra's choice (``a=1,2``)
        and ``range(start, stop[, step])`` sweeps become one list of plain
        overrides per experiment, as DVC accepts them.
    apply_overrides(root, overrides): edit the params files, keeping their
        comments, key order and formatting (round-trip YAML; JSON keeps order).

All files are edited in memory first and written only when every override
applied cleanly, so a typo in the third ``-S`` leaves all files untouched.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from prefect_dvc.errors import ConfigError, ParamsError, UnsafePathError, YamlSyntaxError
from prefect_dvc.safety import check_write_target, workspace_refusal
from prefect_dvc.yamlio import atomic_write, parse_yaml

DEFAULT_PARAMS = "params.yaml"
_RANGE = re.compile(r"^range\(\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*(?:,\s*(-?[\d.]+)\s*)?\)$")
_CHOICE = re.compile(r"^choice\((.*)\)$")


@dataclass(frozen=True)
class Override:
    """``file:key=value``; ``add`` for ``+key`` (may create), ``delete`` for ``~key``."""

    file: str
    key: str
    value: Any = None
    add: bool = False
    delete: bool = False

    def __str__(self) -> str:
        prefix = "+" if self.add else "~" if self.delete else ""
        value = "" if self.delete else "=" + _format_value(self.value)
        return f"{self.file}:{prefix}{self.key}{value}"


def _format_value(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


def _split_file(text: str) -> tuple[str, str]:
    head, sep, rest = text.partition("=")
    if ":" in head:
        file, _, key = head.rpartition(":")
        return file, key + sep + rest
    return DEFAULT_PARAMS, text


def parse_override(text: str) -> Override:
    """Parse one ``-S`` value; raises ConfigError naming it when malformed."""
    file, rest = _split_file(text.strip())
    if rest.startswith("~"):
        return Override(file, rest[1:].partition("=")[0], delete=True)
    add = rest.startswith("+")
    key, sep, raw = rest.lstrip("+").partition("=")
    if not sep or not key:
        raise ConfigError(
            f"cannot parse -S '{text}'", hint="Write it as [file:]key=value, e.g. train.lr=0.01"
        )
    return Override(file, key.strip(), _parse_value(raw), add=add)


def _parse_value(raw: str) -> Any:
    raw = raw.strip()
    if raw == "":
        return ""
    try:
        return parse_yaml(raw)
    except YamlSyntaxError:  # anything YAML refuses is a plain string
        return raw


def _sweep_values(raw: str) -> list[str] | None:
    """The values of a sweep, or ``None`` when ``raw`` is a single value."""
    raw = raw.strip()
    match = _RANGE.match(raw)
    if match:
        nums = [float(g) if "." in g else int(g) for g in match.groups() if g is not None]
        start, stop, step = (*nums, 1)[:3] if len(nums) == 2 else nums
        if step == 0:
            raise ConfigError(f"range step is zero in '{raw}'", hint="Use a non-zero step")
        values, current = [], start
        while (step > 0 and current < stop) or (step < 0 and current > stop):
            values.append(str(current))
            current += step
        return values
    choice = _CHOICE.match(raw)
    inner = choice.group(1) if choice else raw
    if "," in inner and not inner.startswith(("[", "{")):
        return [v.strip() for v in inner.split(",")]
    return None


def expand_sweeps(texts: Sequence[str]) -> list[list[str]]:
    """One list of single-valued overrides per combination (last ``-S`` varies fastest)."""
    axes: list[list[str]] = []
    for text in texts:
        head, sep, raw = text.partition("=")
        values = _sweep_values(raw) if sep else None
        axes.append([f"{head}={v}" for v in values] if values else [text])
    return [list(combo) for combo in itertools.product(*axes)]


def _set(data: Any, override: Override) -> None:
    parts = override.key.split(".")
    node = data
    for i, part in enumerate(parts[:-1]):
        if not isinstance(node, dict) or part not in node:
            if not override.add or not isinstance(node, dict):
                _missing(override, ".".join(parts[: i + 1]))
            node[part] = {}
        node = node[part]
    last = parts[-1]
    if not isinstance(node, dict):
        _missing(override, override.key)
    if override.delete:
        if last not in node:
            _missing(override, override.key)
        del node[last]
    elif last not in node and not override.add:
        _missing(override, override.key)
    else:
        node[last] = override.value


def _missing(override: Override, key: str) -> None:
    raise ParamsError(
        f"cannot override '{key}': it is not in the file",
        path=override.file,
        hint=f"To add it, write -S '+{override.key}=...'",
    )


def _load_for_edit(path: Path, display: str) -> tuple[Any, YAML | None]:
    if not path.exists():
        return {}, _rt_yaml() if path.suffix not in (".json",) else None
    if path.suffix == ".json":
        return json.loads(path.read_text()), None
    if path.suffix in (".toml", ".py"):
        raise ParamsError(
            f"-S cannot edit {path.suffix} params files", path=display, hint="Edit the file by hand"
        )
    yaml = _rt_yaml()
    parse_yaml(path.read_text(), display)  # reports syntax errors with our message
    return yaml.load(path.read_text()) or {}, yaml


def _rt_yaml() -> YAML:
    yaml = YAML(typ="rt", pure=True)
    yaml.preserve_quotes = True
    yaml.width = 4096
    return yaml


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

    With ``dry_run`` every override is checked (files parse, keys exist) and
    nothing is written: the CLI calls it before starting a flow.
    """
    by_file: dict[str, list[Override]] = {}
    for override in overrides:
        by_file.setdefault(override.file, []).append(override)
    rendered: dict[Path, str] = {}
    for file, items in by_file.items():
        path = _params_path(root, file)
        data, yaml = _load_for_edit(path, file)
        for override in items:
            if not path.exists() and not override.add:
                raise ParamsError(
                    "params file does not exist",
                    path=file,
                    hint="Create it, or use -S '+key=value'",
                )
            _set(data, override)
        if yaml is None:
            rendered[path] = json.dumps(data, indent=4) + "\n"
        else:
            stream = StringIO()
            yaml.dump(data, stream)
            rendered[path] = stream.getvalue()
    for path, text in rendered.items():
        if not dry_run:
            atomic_write(path, text)
    return sorted(by_file)
