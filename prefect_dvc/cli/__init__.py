"""The ``prefect-dvc`` command.

Thin by design: each subcommand parses its arguments, calls the library and
prints. :func:`main` is the one place where a :class:`PrefectDvcError`
becomes a single line on stderr and exit code 1 (the traceback only with
``-v``).

Prefect is imported only by the commands that start a flow, and only when
they do (``status`` and a no-op ``repro`` never pay its import).
"""

from __future__ import annotations

import logging
import sys

import click
import typer

from prefect_dvc.cli import artifacts as artifacts_cmds
from prefect_dvc.cli import cache as cache_cmds
from prefect_dvc.cli import config as config_cmds
from prefect_dvc.cli import data as data_cmds
from prefect_dvc.cli import deploy as deploy_cmds
from prefect_dvc.cli import exp as exp_cmds
from prefect_dvc.cli import exp_daily as exp_daily_cmds
from prefect_dvc.cli import imports as imports_cmds
from prefect_dvc.cli import pipeline as pipeline_cmds
from prefect_dvc.cli import plots as plots_cmds
from prefect_dvc.cli import remote as remote_cmds
from prefect_dvc.cli import stage as stage_cmds
from prefect_dvc.cli import stage_add as stage_add_cmds
from prefect_dvc.cli import tracked as tracked_cmds
from prefect_dvc.cli import version as version_cmds
from prefect_dvc.cli.output import err_console
from prefect_dvc.cli.reconcile import reconcile
from prefect_dvc.cli.usage import USAGE_EXIT_CODE, UsageError, usage_error_line
from prefect_dvc.errors import PrefectDvcError
from prefect_dvc.locks import set_wait_for_lock

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
        callback=version_cmds.print_version,
        is_eager=True,
        help="Show the version and exit.",
    ),
) -> None:
    _state["verbose"] = verbose
    set_wait_for_lock(wait_for_lock)
    if verbose:
        logging.basicConfig(level=logging.DEBUG)
    reconcile(ctx.invoked_subcommand or "")


pipeline_cmds.register(app)
data_cmds.register(app)
app.add_typer(remote_cmds.app, name="remote")
app.add_typer(exp_cmds.app, name="exp")
app.add_typer(plots_cmds.app, name="plots")
exp_cmds.register_top_level(app)
deploy_cmds.register(app)
app.add_typer(cache_cmds.app, name="cache")
app.add_typer(artifacts_cmds.app, name="artifacts")
imports_cmds.register(app)
app.add_typer(stage_cmds.app, name="stage")
stage_add_cmds.register(stage_cmds.app)
config_cmds.register(app)
version_cmds.register(app)
exp_daily_cmds.register(exp_cmds.app, exp_cmds.queue_app)
tracked_cmds.register(app)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    try:
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
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    # NOTE: typer (core.py, _main) turns Ctrl+C into Exit(130) and, without
    # standalone mode, returns that code instead of raising: it would exit 0.
    if code == 130:
        err_console.print("Interrupted.")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
