"""Hydra's override grammar, exactly as DVC reads ``exp run -S`` (the one place hydra is imported).

Provides:
    ParsedOverride: what one override means (kind, key, value, sweep).
    parse(texts, display): hydra-core's ``OverridesParser`` over overrides
        written without their ``file:`` prefix.
    sweep_combinations(texts): one list of single-valued overrides per
        combination, from Hydra's ``BasicSweeper`` (choice, range, sort...).
    apply(data, texts, display): the params as a plain dict after the
        overrides, through OmegaConf and hydra's own config update.

DVC does the same in ``dvc/utils/hydra.py`` (``to_hydra_overrides``,
``get_hydra_sweeps``, ``apply_overrides``); using hydra-core rather than an
imitation keeps every corner of the grammar (quoted commas, ``007`` as a
string, ``inf``, ``{a:1}``, escapes) identical to DVC's. hydra-core costs
~120 ms to import, so ``overrides.py`` imports this module only when an
override is really parsed; ``status`` and the other read-only commands never
load it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, OverrideType, ValueType
from hydra.errors import ConfigCompositionException, HydraException, OverrideParseException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from prefect_dvc.errors import ConfigError, ParamsError

_KINDS = {
    OverrideType.CHANGE: "change",
    OverrideType.ADD: "add",
    OverrideType.FORCE_ADD: "force_add",
    OverrideType.DEL: "delete",
}
_GRAMMAR_HINT = (
    "Write [file:]key=value in Hydra's override grammar, quoting values with spaces or "
    "special characters (e.g. -S 'name=\"a b\"')"
)


@dataclass(frozen=True)
class ParsedOverride:
    """One override as Hydra reads it.

    Attributes:
        text: the override without its file prefix, e.g. ``+train.lr=0.1``.
        key: the dotted key, without ``+``/``++``/``~``.
        kind: ``change``, ``add`` (``+key``), ``force_add`` (``++key``) or ``delete`` (``~key``).
        value: the Python value (``None`` for a sweep or a bare ``~key``).
        sweep: a choice/range/glob sweep (``a=1,2``, ``range(1,3)``, ``glob(*)``).
        glob: a ``glob(...)`` sweep, which DVC refuses.
    """

    text: str
    key: str
    kind: str
    value: Any
    sweep: bool
    glob: bool


@functools.cache
def _parser() -> OverridesParser:
    return OverridesParser.create()


def _hydra_parse(texts: Sequence[str], prefix: str = "") -> list[Override]:
    """hydra-core's parse; a bad override becomes ConfigError naming it (as ``prefix + text``)."""
    parsed = []
    for text in texts:
        try:
            parsed.extend(_parser().parse_overrides([text]))
        except (OverrideParseException, HydraException) as exc:
            raise ConfigError(
                f"cannot parse -S '{prefix}{text}': {_reason(exc)}", hint=_GRAMMAR_HINT
            ) from None
    return parsed


def parse(texts: Sequence[str], prefix: str = "") -> list[ParsedOverride]:
    """Parse overrides written without their ``file:`` prefix (``prefix`` is shown in errors).

    Raises:
        ConfigError: an override Hydra's grammar refuses (e.g. ``a==1``, ``a=é``).
    """
    result = []
    for override in _hydra_parse(texts, prefix):
        sweep = override.is_sweep_override()
        result.append(
            ParsedOverride(
                text=str(override.input_line),
                key=override.key_or_group,
                kind=_KINDS[override.type],
                value=None if sweep else override.value(),
                sweep=sweep,
                glob=override.value_type == ValueType.GLOB_CHOICE_SWEEP,
            )
        )
    return result


def sweep_combinations(texts: Sequence[str]) -> list[list[str]]:
    """Hydra's ``BasicSweeper`` over one file's overrides: a list of overrides per combination.

    Values come back as Hydra writes them (``name="a,b"`` keeps its quotes),
    so each string parses again to the same value. Later overrides vary
    fastest; a key given twice keeps its first place and its last value.

    Raises:
        ConfigError: a bad override, or a ``glob(...)`` sweep (DVC: "Glob override
            ... is not supported").
    """
    overrides = _hydra_parse(texts)
    for override in overrides:
        if override.value_type == ValueType.GLOB_CHOICE_SWEEP:
            raise ConfigError(
                f"glob override '{override.input_line}' is not supported",
                hint="List the values instead, e.g. -S 'model=a,b'",
            )
    try:
        return [list(combo) for combo in BasicSweeper.split_arguments(overrides, None)[0]]
    except HydraException as exc:  # e.g. interval(...): not enumerable
        raise ConfigError(
            f"cannot sweep over -S {', '.join(repr(t) for t in texts)}: {_reason(exc)}",
            hint="Use choice (a,b), range(start,stop,step) or sort/shuffle of those",
        ) from None


def apply(data: dict[str, Any], texts: Sequence[str], display: str) -> dict[str, Any]:
    """``data`` (plain dicts/lists/scalars) after the overrides, as DVC computes it.

    DVC creates an OmegaConf config from the file's params (``allow_objects``,
    struct mode so a new key needs ``+``), applies the overrides with hydra's
    ``ConfigLoaderImpl._apply_overrides_to_config`` and converts back with
    ``OmegaConf.to_object`` (resolving ``${...}``). We do exactly that.

    Raises:
        ConfigError: an override that does not parse, or a sweep.
        ParamsError: a key that is missing (without ``+``), already present
            (with ``+``), or cannot be set; names ``display``.
    """
    overrides = _hydra_parse(texts)
    for override in overrides:
        if override.is_sweep_override():
            raise ConfigError(
                f"-S '{override.input_line}' is a sweep and cannot be applied to one experiment",
                hint="Add --queue to queue one experiment per value",
            )
    try:
        config = OmegaConf.create(data, flags={"allow_objects": True})
        OmegaConf.set_struct(config, True)
        ConfigLoaderImpl._apply_overrides_to_config(overrides, config)
        result = OmegaConf.to_object(config)
    except (ConfigCompositionException, OmegaConfBaseException, HydraException) as exc:
        raise ParamsError(_reason(exc), path=display) from None
    assert isinstance(result, dict)
    return result


def _reason(exc: BaseException) -> str:
    """Hydra's/OmegaConf's message as one line, without its documentation link."""
    lines = [line.strip() for line in str(exc).splitlines()]
    if isinstance(exc, OmegaConfBaseException):  # the rest is full_key/object_type detail
        lines = lines[:1]
    lines = [ln for ln in lines if ln and not ln.startswith("See https://")]
    if lines and lines[0].startswith("LexerNoViableAltException"):
        return _lexer_reason(str(exc).splitlines())
    if lines and lines[0].startswith("Error parsing override") and len(lines) > 1:
        lines = lines[1:]
    text = " ".join(lines).split(" expecting {")[0]
    cause = exc.__cause__
    if cause is not None and text.startswith("Error merging override"):
        text += ": " + (str(cause).splitlines() or [type(cause).__name__])[0]
    return text.rstrip(".") or type(exc).__name__


def _lexer_reason(lines: list[str]) -> str:
    head = "LexerNoViableAltException: "
    line, caret = lines[0][len(head) :], lines[1] if len(lines) > 1 else ""
    column = caret.find("^") - len(head)
    if 0 <= column < len(line):
        return f"unexpected character {line[column]!r} at column {column + 1}"
    return "unexpected character"
