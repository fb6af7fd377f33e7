"""``deploy``, ``serve`` and ``server start|stop|status``.

``deploy`` and ``serve`` register the ``exp_run`` flow as a Prefect
deployment (entrypoint ``prefect_dvc.flows.experiment.exp_run``, a module
path, so any worker with prefect-dvc installed can load it) with an optional
cron or interval schedule. ``deploy`` hands runs to a work pool (created as a
``process`` pool if missing); ``serve`` runs them from this process.

Prefect is imported inside the commands only: ``prefect-dvc status`` must
not pay for it (the CLI's import test checks this).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import typer

from prefect_dvc.cli.output import console, err_console
from prefect_dvc.errors import ConfigError, PrefectDvcError
from prefect_dvc.flows import background
from prefect_dvc.flows import server as server_lib
from prefect_dvc.redact import redact
from prefect_dvc.repo import find_root

server_app = typer.Typer(help="Run a local Prefect server (with its UI).", no_args_is_help=True)

# NOTE: Prefect reserves work-pool names starting with "prefect".
DEFAULT_POOL = "dvc-process"
ENTRYPOINT = "prefect_dvc.flows.experiment.exp_run"

CRON = typer.Option(None, "--cron", help="Cron schedule, e.g. '0 3 * * *'.")
INTERVAL = typer.Option(None, "--interval", help="Run every SECONDS seconds.")
TIMEZONE = typer.Option("UTC", "--timezone", help="IANA time zone of the cron schedule.")
PARAM = typer.Option(
    None, "-p", "--param", help="key=value default parameter of exp_run (value may be JSON)."
)
TAG = typer.Option(None, "--tag", help="Extra tag for the deployment and its runs.")
PAUSED = typer.Option(False, "--paused", help="Create the schedule paused.")


@dataclass(frozen=True)
class DeploymentSpec:
    """What ``deploy`` and ``serve`` share: name, schedule, defaults, tags."""

    name: str
    cron: str | None
    interval: float | None
    timezone: str
    parameters: dict[str, Any]
    tags: tuple[str, ...]
    paused: bool


def _say(text: str) -> None:
    """One line on stdout, never wrapped (URLs and commands are copied from it)."""
    console.print(text, soft_wrap=True, markup=False)


def register(app: typer.Typer) -> None:
    app.command("deploy")(deploy)
    app.command("serve")(serve)
    app.add_typer(server_app, name="server")


def parse_params(items: Sequence[str], known: Sequence[str]) -> dict[str, Any]:
    """``["push=true", "repo=file:///r.git"]`` -> ``{"push": True, "repo": "file:///r.git"}``.

    A value that parses as JSON is taken as JSON (booleans, numbers, lists),
    anything else as a string.

    Raises:
        ConfigError: no ``=``, or a key ``exp_run`` does not take.
    """
    params: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--param '{item}' is not key=value", hint="E.g. --param push=true")
        if key not in known:
            raise ConfigError(
                f"exp_run has no parameter '{key}'",
                hint=f"Use one of: {', '.join(known)}",
            )
        try:
            params[key] = json.loads(raw)
        except ValueError:
            params[key] = raw
    return params


def _spec(
    name: str,
    cron: str | None,
    interval: float | None,
    timezone: str,
    param: list[str] | None,
    tag: list[str] | None,
    paused: bool,
) -> DeploymentSpec:
    from prefect_dvc.flows.experiment import exp_run

    if cron and interval:
        raise ConfigError("--cron and --interval exclude each other", hint="Give only one")
    if interval is not None and interval <= 0:
        raise ConfigError(f"--interval {interval} must be a positive number of seconds")
    known = list(exp_run.parameters.properties)
    params = parse_params(param or [], known)
    _warn_about_credentials(params)
    if "repo" not in params:
        params["repo"] = str(find_root())
        _say(f"repo={params['repo']} (pass --param repo=<git url> to run in a fresh clone)")
    tags = tuple(dict.fromkeys(["prefect-dvc", *(tag or [])]))
    return DeploymentSpec(name, cron, interval, timezone, params, tags, paused)


def _deployment(spec: DeploymentSpec, pool: str | None) -> Any:
    """The ``RunnerDeployment`` of ``exp_run`` for ``spec`` (validated schedule)."""
    from prefect.schedules import Cron, Interval
    from prefect.types.entrypoint import EntrypointType
    from pydantic import ValidationError

    from prefect_dvc.flows.experiment import exp_run

    try:
        if spec.cron:
            schedules = [Cron(spec.cron, timezone=spec.timezone, active=not spec.paused)]
        elif spec.interval:
            schedules = [Interval(spec.interval, active=not spec.paused)]
        else:
            schedules = []
        return exp_run.to_deployment(
            name=spec.name,
            schedules=schedules,
            parameters=spec.parameters,
            tags=list(spec.tags),
            work_pool_name=pool,
            entrypoint_type=EntrypointType.MODULE_PATH,
            job_variables=WORKER_JOB_VARIABLES if pool else None,
        )
    except (ValidationError, ValueError) as exc:
        what = f"cron '{spec.cron}'" if spec.cron else f"deployment '{spec.name}'"
        first = str(exc).splitlines()
        raise ConfigError(
            f"invalid {what}: {first[-1].strip() if first else exc}",
            hint="A cron has five fields, e.g. '0 3 * * *' (03:00 every day)",
        ) from exc


# NOTE: runs on a worker cannot be settled by our run records (another host,
# a container): they send Prefect's flow-run heartbeats so a zombie-flow
# automation can mark them Crashed (deploy/README.md). Local runs turn the
# heartbeat off (flows/local.py) and rely on the run records instead.
WORKER_JOB_VARIABLES = {"env": {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "60"}}


def _require_server() -> str:
    """The API URL to talk to: ``PREFECT_API_URL`` or a running local server."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value() or server_lib.find_local_server()
    if not url:
        raise ConfigError(
            "no Prefect server to register the deployment with",
            hint="Start one with 'prefect-dvc server start', or set PREFECT_API_URL",
        )
    return str(url)


def _ensure_pool(pool: str) -> bool:
    """Create work pool ``pool`` (type ``process``) unless it exists; True if created."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(pool)
            return False
        except ObjectNotFound:
            pass
        try:
            client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
        except PrefectHTTPStatusError as exc:
            detail = exc.response.json().get("detail", str(exc))
            raise ConfigError(
                f"cannot create work pool '{pool}': {detail}", hint="Pick another --pool name"
            ) from exc
        return True


def _warn_about_credentials(params: dict[str, Any]) -> None:
    """Say so when a parameter carries a token: the server stores it as typed."""
    for key, value in params.items():
        if isinstance(value, str) and redact(value) != value:
            err_console.print(
                f"WARNING: parameter {key} holds credentials ({redact(value)}); the Prefect "
                "server stores them as given. Prefer a Git credential helper or a Secret "
                "block (deploy/README.md, 'Credentials').",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )


def _describe(spec: DeploymentSpec) -> str:
    if spec.cron:
        return f"cron '{spec.cron}' ({spec.timezone})" + (" paused" if spec.paused else "")
    if spec.interval:
        return f"every {spec.interval:g} s" + (" paused" if spec.paused else "")
    return "no schedule (run it with 'prefect deployment run')"


def deploy(
    name: str = typer.Argument(..., help="Deployment name (the flow is exp_run)."),
    cron: str = CRON,
    interval: float = INTERVAL,
    timezone: str = TIMEZONE,
    param: list[str] = PARAM,
    pool: str = typer.Option(DEFAULT_POOL, "--pool", help="Work pool (created if missing)."),
    tag: list[str] = TAG,
    paused: bool = PAUSED,
) -> None:
    """Create or update a deployment of exp_run with its schedule, served by a work pool."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    spec = _spec(name, cron, interval, timezone, param, tag, paused)
    url = _require_server()
    with temporary_settings(updates={PREFECT_API_URL: url}):
        deployment = _deployment(spec, pool)
        created = _ensure_pool(pool)
        dep_id = _apply(deployment)
    if created:
        _say(f"Created work pool '{pool}' (type process).")
    _say(f"Deployment 'exp_run/{name}' ({dep_id}): {_describe(spec)}, pool '{pool}'.")
    _say(f"Start a worker with: prefect worker start --pool {pool}")
    _say(f"Run it now with: prefect deployment run 'exp_run/{name}'")


def _apply(deployment: Any) -> str:
    from prefect.deployments.runner import DeploymentApplyError

    try:
        return str(deployment.apply())
    except DeploymentApplyError as exc:
        raise PrefectDvcError(
            f"the Prefect server refused deployment '{deployment.name}': {exc}",
            hint="Check the parameters against 'prefect-dvc deploy --help'",
        ) from exc


def serve(
    name: str = typer.Argument(..., help="Deployment name (the flow is exp_run)."),
    cron: str = CRON,
    interval: float = INTERVAL,
    timezone: str = TIMEZONE,
    param: list[str] = PARAM,
    tag: list[str] = TAG,
    paused: bool = PAUSED,
    limit: int = typer.Option(1, "--limit", help="Flow runs at once."),
) -> None:
    """Serve a deployment of exp_run from this process until interrupted (no worker needed)."""
    from prefect import serve as prefect_serve
    from prefect.settings import PREFECT_API_URL, temporary_settings

    spec = _spec(name, cron, interval, timezone, param, tag, paused)
    url = _require_server()
    with temporary_settings(updates={PREFECT_API_URL: url}):
        deployment = _deployment(spec, None)
        _say(f"Serving 'exp_run/{name}' on {url}: {_describe(spec)}. Ctrl+C stops.")
        prefect_serve(deployment, limit=limit, print_starting_message=False)


@server_app.command("start")
def server_start(
    host: str = typer.Option(server_lib.DEFAULT_HOST, "--host"),
    port: int = typer.Option(server_lib.DEFAULT_PORT, "--port"),
    timeout: float = typer.Option(server_lib.START_TIMEOUT, "--timeout", help="Seconds to wait."),
) -> None:
    """Start a Prefect server with its UI in the background (under $PREFECT_HOME)."""
    home = server_lib.prefect_home()
    info, started = server_lib.start_server(home, host=host, port=port, timeout=timeout)
    if info.idle:
        info = background.keep(home, info)  # started on demand: now it stays
    verb = "Started" if started else "Already running:"
    _say(f"{verb} Prefect server (pid {info.pid}) at {info.ui_url}")
    _say(f"UI: {info.ui_url}   log: {info.log}")
    _say("prefect-dvc commands on this machine use it automatically; for others run:")
    _say(f"  export PREFECT_API_URL={info.api_url}")


@server_app.command("stop")
def server_stop() -> None:
    """Stop the server 'prefect-dvc server start' started."""
    info = server_lib.stop_server(server_lib.prefect_home())
    if info is None:
        _say("No prefect-dvc server is recorded under $PREFECT_HOME.")
        return
    _say(f"Stopped Prefect server (pid {info.pid}) at {info.ui_url}")


@server_app.command("status")
def server_status() -> None:
    """Say whether a local server is running (exit code 1 if not)."""
    home = server_lib.prefect_home()
    info, up = server_lib.server_status(home)
    if info is not None and up:
        until = f"stops after {info.idle:g} s unused" if info.idle else "runs until 'server stop'"
        _say(f"running: {info.ui_url} (pid {info.pid}), API {info.api_url}; {until}")
        return
    other = server_lib.find_local_server(home)
    if other:
        _say(f"running (not started by prefect-dvc): API {other}")
        return
    where = f"recorded at {info.api_url} but not answering" if info else f"none under {home}"
    raise PrefectDvcError(
        f"no Prefect server is running ({where})", hint="Start one with 'prefect-dvc server start'"
    )


def apply_pool_deployment(name: str, parameters: dict[str, Any], pool: str) -> str:
    """Create or update ``exp_run/<name>`` on work pool ``pool``, unscheduled; its id.

    What ``prefect-dvc deploy NAME --pool POOL`` registers (module-path
    entrypoint, heartbeat job variables, tag ``prefect-dvc``), for callers
    that send runs themselves (``exp run --run-all --pool``). The pool must exist.

    Raises:
        ConfigError: the deployment is invalid.
        PrefectDvcError: the server refused it.
    """
    spec = DeploymentSpec(name, None, None, "UTC", dict(parameters), ("prefect-dvc",), False)
    return _apply(_deployment(spec, pool))
