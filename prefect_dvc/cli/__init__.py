"""The ``prefect-dvc`` command.

Thin by design: each subcommand parses its arguments, calls the library and
prints. :func:`main` is the one place where a :class:`PrefectDvcError`
becomes a single line on stderr and exit code 1 (the traceback only with
``-v``).

Prefect is imported only by the commands that start a flow, and only when
they do (``status`` and a no-op ``repro`` never pay its import). Each
command's module is imported only when that command runs
(:data:`_REGISTRATION`): ``repro`` never loads the experiments, plots or
remote-storage stacks; ``--help`` and a name we do not know load them all.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING

import typer

from prefect_dvc.cli import lazy_coercion
from prefect_dvc.cli.output import err_console
from prefect_dvc.cli.reconcile import reconcile
from prefect_dvc.cli.usage import USAGE_EXIT_CODE, UsageError, usage_error_line
from prefect_dvc.errors import PrefectDvcError
from prefect_dvc.locks import set_wait_for_lock

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

# NOTE: typer >= 0.24 vendors click: what its parser raises derives from the
# vendored ClickException, never from the `click` package's (whose import
# alone cost 16 ms of every command).
ClickException: type[Exception] = next(
    cls for cls in typer.BadParameter.__mro__ if cls.__name__ == "ClickException"
)
lazy_coercion.install()


def _print_version(value: bool) -> None:
    # NOTE: click calls an eager option's callback on every command, with False.
    if value:
        from prefect_dvc.cli.version import print_version

        print_version(value)


app = typer.Typer(
    name="prefect-dvc",
    help="Run DVC pipelines and experiments on Prefect.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_state = {"verbose": False}


@app.callback()
def _root(
    ctx: typer.Context,
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Show tracebacks and debug logs."),
    wait_for_lock: bool = typer.Option(
        False, "--wait-for-lock", help="Wait for a busy repository lock instead of failing (DVC)."
    ),
    _version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Show the version and exit.",
    ),
) -> None:
    _state["verbose"] = verbose
    set_wait_for_lock(wait_for_lock)
    if verbose:
        logging.basicConfig(level=logging.DEBUG)
    reconcile(ctx.invoked_subcommand or "")


# NOTE: one function per registration step, each importing its command
# module in its body, so a command costs only its own module's imports.
def _pipeline(root: typer.Typer) -> None:
    from prefect_dvc.cli import pipeline as pipeline_cmds

    pipeline_cmds.register(root)


def _data(root: typer.Typer) -> None:
    from prefect_dvc.cli import data as data_cmds

    data_cmds.register(root)


def _remote(root: typer.Typer) -> None:
    from prefect_dvc.cli import remote as remote_cmds

    root.add_typer(remote_cmds.app, name="remote")


def _exp(root: typer.Typer) -> None:
    from prefect_dvc.cli import exp as exp_cmds

    root.add_typer(exp_cmds.app, name="exp")


def _plots(root: typer.Typer) -> None:
    from prefect_dvc.cli import plots as plots_cmds

    root.add_typer(plots_cmds.app, name="plots")


def _exp_top_level(root: typer.Typer) -> None:
    from prefect_dvc.cli import exp as exp_cmds

    exp_cmds.register_top_level(root)


def _deploy(root: typer.Typer) -> None:
    from prefect_dvc.cli import deploy as deploy_cmds

    deploy_cmds.register(root)


def _cache(root: typer.Typer) -> None:
    from prefect_dvc.cli import cache as cache_cmds

    root.add_typer(cache_cmds.app, name="cache")


def _artifacts(root: typer.Typer) -> None:
    from prefect_dvc.cli import artifacts as artifacts_cmds

    root.add_typer(artifacts_cmds.app, name="artifacts")


def _imports(root: typer.Typer) -> None:
    from prefect_dvc.cli import imports as imports_cmds

    imports_cmds.register(root)


def _stage(root: typer.Typer) -> None:
    from prefect_dvc.cli import stage as stage_cmds

    root.add_typer(stage_cmds.app, name="stage")


def _stage_add(root: typer.Typer) -> None:
    from prefect_dvc.cli import stage as stage_cmds
    from prefect_dvc.cli import stage_add as stage_add_cmds

    stage_add_cmds.register(stage_cmds.app)


def _config(root: typer.Typer) -> None:
    from prefect_dvc.cli import config as config_cmds

    config_cmds.register(root)


def _version(root: typer.Typer) -> None:
    from prefect_dvc.cli import version as version_cmds

    version_cmds.register(root)


def _exp_daily(root: typer.Typer) -> None:
    from prefect_dvc.cli import exp as exp_cmds
    from prefect_dvc.cli import exp_daily as exp_daily_cmds

    exp_daily_cmds.register(exp_cmds.app, exp_cmds.queue_app)


def _tracked(root: typer.Typer) -> None:
    from prefect_dvc.cli import tracked as tracked_cmds

    tracked_cmds.register(root)


#: The registration steps in the order of ``--help``, each with the top-level
#: names whose commands it adds or changes. A step runs at most once per process.
_REGISTRATION: tuple[tuple[Callable[[typer.Typer], None], tuple[str, ...]], ...] = (
    (_pipeline, ("init", "repro", "status", "dag")),
    (_data, ("push", "pull", "fetch", "checkout", "gc")),
    (_remote, ("remote",)),
    (_exp, ("exp",)),
    (_plots, ("plots",)),
    (_exp_top_level, ("exp", "queue", "params", "metrics")),
    (_deploy, ("deploy", "serve", "server")),
    (_cache, ("cache",)),
    (_artifacts, ("artifacts",)),
    (_imports, ("import-url", "import", "update")),
    (_stage, ("stage",)),
    (_stage_add, ("stage",)),
    (_config, ("config",)),
    (_version, ("version",)),
    (_exp_daily, ("exp", "queue")),
    (_tracked, ("add", "commit", "move", "remove")),
)

_done: set[int] = set()  # indexes of the steps this process ran
_step_of: dict[int, int] = {}  # id(typer's command/group info) -> index of its step


def _command_name(argv: Sequence[str]) -> str | None:
    """The top-level command named in ``argv``: the first word after the root's flags.

    ``None`` when ``--help`` comes first: click then prints the root's help
    (``prefect-dvc --help repro``), which lists every command.
    """
    for arg in argv:
        if arg == "--help":
            return None
        if not arg.startswith("-"):
            return arg
    return None


def register_commands(argv: Sequence[str] | None = None) -> None:
    """Register what running ``argv`` needs: one command's steps, or every step.

    Every step runs when ``argv`` names no command we know (``--help``, a
    typo, nothing): help listings and "did you mean" need them all. Commands
    and groups are kept in the steps' order, so ``--help`` reads the same
    whichever command a process ran first.
    """
    name = _command_name(sys.argv[1:] if argv is None else argv)
    wanted = [i for i, (_, names) in enumerate(_REGISTRATION) if name in names]
    last = len(_REGISTRATION)
    for index in wanted or range(last):
        if index in _done:
            continue
        _done.add(index)
        before = {id(info) for info in (*app.registered_commands, *app.registered_groups)}
        _REGISTRATION[index][0](app)
        for info in (*app.registered_commands, *app.registered_groups):
            if id(info) not in before:
                _step_of[id(info)] = index
    app.registered_commands.sort(key=lambda info: _step_of.get(id(info), last))
    app.registered_groups.sort(key=lambda info: _step_of.get(id(info), last))


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    try:
        register_commands(argv)
        code = app(args=argv, standalone_mode=False)
    except PrefectDvcError as exc:
        if _state["verbose"]:
            raise
        err_console.print(f"ERROR: {exc}", markup=False, highlight=False, soft_wrap=True)
        return exc.exit_code
    except OSError as exc:
        # NOTE: the net under every file we touch: a full disk, a read-only
        # folder or a missing permission is one line naming the path.
        if _state["verbose"]:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        reason = exc.strerror or str(exc) or type(exc).__name__
        err_console.print(f"ERROR: {where}{reason}.", markup=False, highlight=False, soft_wrap=True)
        return 1
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        err_console.print("Aborted.")
        return 130
    except KeyboardInterrupt:
        err_console.print("Interrupted.")
        return 130
    except UsageError as exc:
        # DVC's parser errors: one line, exit 254 (dvc/cli/__init__.py)
        err_console.print(
            f"ERROR: {usage_error_line(exc)}", markup=False, highlight=False, soft_wrap=True
        )
        return USAGE_EXIT_CODE
    except ClickException as exc:
        exc.show()  # type: ignore[attr-defined]
        return exc.exit_code  # type: ignore[attr-defined]
    # NOTE: without standalone mode typer (core.py, _main) returns the code of
    # a typer.Exit(n), and of Ctrl+C as Exit(130), instead of raising it: a
    # command's non-zero exit would otherwise end as 0.
    if code == 130:
        err_console.print("Interrupted.")
    if isinstance(code, int) and not isinstance(code, bool):
        return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
