"""Usage errors of the ``prefect-dvc`` command as one line, the way DVC reports them.

DVC's argparse parser logs ``ERROR: <message>`` and exits with 254
(``DvcParserError`` in ``dvc/cli/__init__.py``); click would print a usage box
and exit 2, and with ``standalone_mode=False`` it raises instead. :func:`main`
in :mod:`prefect_dvc.cli` catches what click raises and hands it to
:func:`usage_error_line`.
"""

from __future__ import annotations

import difflib
from typing import Any

import typer

#: DVC's exit code for a command line it cannot parse (``DvcParserError``).
USAGE_EXIT_CODE = 254

# NOTE: typer >= 0.24 vendors click, older typer uses click itself; the public
# ``typer.BadParameter`` derives from whichever UsageError the parser raises.
UsageError: type[Exception] = next(
    cls for cls in typer.BadParameter.__mro__ if cls.__name__ == "UsageError"
)


def usage_error_line(exc: Exception) -> str:
    """One line for a click usage error: what is wrong, a close match, where help is.

    Args:
        exc: a click ``UsageError`` (unknown command or option, missing or
            extra argument, bad value, missing subcommand).

    Returns:
        ``"<what>. Did you mean '<close>'? See '<command> --help'."`` without
        a newline; the ``Did you mean`` part only when a close command or
        option exists (``difflib``, as DVC's and click's own suggestions).
    """
    ctx = getattr(exc, "ctx", None)
    if type(exc).__name__ == "NoArgsIsHelpError":
        what = _missing_command(ctx)
    else:
        # click's "(Possible options: …)" compares with the dashes included
        # ("--bogus" ~ "--jobs"); ours compares the names
        what = _one_line(exc.format_message()).split(" (Possible options:", 1)[0]  # type: ignore[attr-defined]
        what = _with_suggestion(what, exc, ctx)
    end = "" if what.endswith(("?", ".")) else "."
    where = f" See '{ctx.command_path} --help'." if ctx is not None else ""
    return f"{what}{end}{where}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _missing_command(ctx: Any) -> str:
    names = _command_names(ctx)
    choices = f" (choose from {', '.join(names)})" if names else ""
    return f"Missing command{choices}"


def _with_suggestion(what: str, exc: Exception, ctx: Any) -> str:
    option = getattr(exc, "option_name", None)
    if option and type(exc).__name__ == "NoSuchOption":
        close = _close_options(option, ctx)
        if close:
            return f"{what.rstrip('.')}. Did you mean {_quoted(close)}?"
    return what


def _quoted(names: list[str]) -> str:
    return " or ".join(f"'{name}'" for name in names)


def _close_options(option: str, ctx: Any) -> list[str]:
    """Options of the failing command close to ``option``; ``-P`` finds ``-p``."""
    if ctx is None:
        return []
    known = [
        opt
        for param in ctx.command.get_params(ctx)
        for opt in (*param.opts, *param.secondary_opts)
        if opt.startswith("-")
    ]
    if len(option) == 2:
        # a one-letter option is too short for difflib: only a case slip counts
        return [opt for opt in known if opt.lower() == option.lower() and opt != option]
    by_name = {opt.lstrip("-"): opt for opt in known if opt.startswith("--")}
    close = difflib.get_close_matches(option.lstrip("-"), list(by_name), n=3, cutoff=0.6)
    return [by_name[name] for name in close]


def _command_names(ctx: Any) -> list[str]:
    if ctx is None or not hasattr(ctx.command, "list_commands"):
        return []
    return [
        name
        for name in ctx.command.list_commands(ctx)
        if not getattr(ctx.command.get_command(ctx, name), "hidden", False)
    ]
