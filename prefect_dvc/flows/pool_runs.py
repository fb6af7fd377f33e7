"""The Prefect API side of experiments on a work pool (``exp run --run-all --pool``).

Provides:
    PoolInfo: a work pool as the driver needs it (name, type, paused, online workers).
    read_pool(pool): the pool, or a one-line error listing the pools there are.
    find_deployment(url, pool): an ``exp_run`` deployment on ``pool`` whose
        ``repo`` is the Git URL ``url``, if one exists (its defaults, e.g. a
        ``config_local_secret``, are kept).
    heartbeat_job_variables(job_variables): the per-run job variables that turn
        heartbeats on when a deployment does not (``None`` when it does).
    deployment_name(url, pool): the name given to one created for them.
    submit(deployment_id, name, parameters, job_variables): one flow run of it.
    cancel_if_queued(run_id): cancel a run no worker has taken yet.
    poll(run_ids): ``{run id: RunState}`` in one API call.
    RunState: where a flow run is (queued, running, done, failed), its message.
    run_url(run_id): the flow run's page in the UI.

Every function talks to the API ``PREFECT_API_URL`` names (the caller sets it)
and raises ``ConfigError`` (one line naming the URL) when it cannot be used.
Prefect is imported here, at the edge, as ``flows/`` may.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterId,
    WorkPoolFilter,
    WorkPoolFilterName,
)
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.responses import SetStateStatus
from prefect.exceptions import ObjectNotFound
from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL
from prefect.states import Cancelled

from prefect_dvc.errors import ConfigError

FLOW_NAME = "exp_run"
HEARTBEAT_ENV = "PREFECT_FLOWS_HEARTBEAT_FREQUENCY"
# NOTE: as cli/deploy.py's WORKER_JOB_VARIABLES (Prefect's minimum is 30 s).
HEARTBEAT_SECONDS = "60"
# Prefect's state types grouped as the progress lines name them.
_PHASES = {
    StateType.SCHEDULED: "queued",
    StateType.PENDING: "queued",
    StateType.RUNNING: "running",
    StateType.PAUSED: "running",
    StateType.CANCELLING: "running",
    StateType.COMPLETED: "done",
    StateType.FAILED: "failed",
    StateType.CRASHED: "failed",
    StateType.CANCELLED: "failed",
}


@dataclass(frozen=True)
class PoolInfo:
    """A work pool: ``name``, ``type`` (process, docker, kubernetes...), online worker names."""

    name: str
    type: str
    paused: bool
    online: tuple[str, ...]


@dataclass(frozen=True)
class RunState:
    """One flow run as the driver sees it.

    Attributes:
        phase: ``queued`` (scheduled/pending), ``running``, ``done`` or ``failed``
            (failed, crashed, cancelled).
        name: Prefect's state name (``Late``, ``Crashed``...).
        message: the state's message (our flow's one-line failure).
    """

    phase: str
    name: str
    message: str


@contextmanager
def _client() -> Iterator[SyncPrefectClient]:
    """Prefect's client; a refused connection or an HTTP error becomes one ``ConfigError`` line."""
    try:
        with get_client(sync_client=True) as client:
            yield client
    except httpx.HTTPError as exc:  # PrefectHTTPStatusError is one too
        said = " ".join(str(exc).split())[:200]
        raise ConfigError(
            f"the Prefect API at {PREFECT_API_URL.value()} cannot be used: {said}",
            hint="Check that the server runs ('prefect-dvc server status') and PREFECT_API_URL",
        ) from exc


def read_pool(pool: str) -> PoolInfo:
    """The work pool ``pool`` and its online workers.

    Raises:
        ConfigError: no such pool; lists the pools there are and how to create one.
    """
    with _client() as client:
        try:
            found = client.read_work_pool(pool)
        except ObjectNotFound:
            names = sorted(p.name for p in client.read_work_pools())
            there = f"pools there: {', '.join(names)}" if names else "it has no pools"
            raise ConfigError(
                f"no work pool '{pool}' on the Prefect server at {PREFECT_API_URL.value()} "
                f"({there})",
                hint=f"Create it with 'prefect work-pool create {pool} --type process' or "
                f"'prefect-dvc deploy <name> --pool {pool}'; nothing was sent",
            ) from None
        workers = client.read_workers_for_work_pool(pool)
    online = tuple(sorted(w.name for w in workers if str(w.status).upper().endswith("ONLINE")))
    return PoolInfo(found.name, found.type, bool(found.is_paused), online)


def deployment_name(url: str, pool: str) -> str:
    """``pool-<repository name>-<8 hex>``: one deployment per Git URL and pool.

    The hash tells apart two repositories of the same name (and the same
    repository on two pools); the name part makes it readable in the UI.
    """
    stem = url.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1].removesuffix(".git")
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-.") or "repo"
    digest = hashlib.sha256(f"{url}\n{pool}".encode()).hexdigest()[:8]
    return f"pool-{stem[:40]}-{digest}"


def find_deployment(url: str, pool: str) -> tuple[str, UUID, dict[str, Any]] | None:
    """``(name, id, job variables)`` of an ``exp_run`` deployment on ``pool`` for ``url``.

    Only deployments that push (``push=true``) qualify. The one named
    :func:`deployment_name` wins; else the first by name of those a user made
    with ``prefect-dvc deploy --pool P --param repo=<url> --param push=true``.
    """
    with _client() as client:
        found = client.read_deployments(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[FLOW_NAME])),
            work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=[pool])),
        )
    ours = deployment_name(url, pool)
    # NOTE: without push=true a run would end with its experiment on the worker only.
    matching = sorted(
        (
            d
            for d in found
            if (d.parameters or {}).get("repo") == url
            and (d.parameters or {}).get("push") is True
            and d.work_pool_name == pool
        ),
        key=lambda d: (d.name != ours, d.name),
    )
    if not matching:
        return None
    return matching[0].name, matching[0].id, dict(matching[0].job_variables or {})


def heartbeat_job_variables(job_variables: dict[str, Any]) -> dict[str, Any] | None:
    """Job variables for each run so it sends heartbeats; ``None`` if the deployment's do.

    Workers merge a run's ``env`` into the deployment's
    (``prefect/workers/base.py``, ``_get_configuration``), so only the
    heartbeat is sent: the deployment's other variables are never copied
    into runs (they may hold a user's credentials).
    """
    env = job_variables.get("env")
    if isinstance(env, dict) and env.get(HEARTBEAT_ENV):
        return None
    return {"env": {HEARTBEAT_ENV: HEARTBEAT_SECONDS}}


def submit(
    deployment_id: UUID,
    name: str,
    parameters: dict[str, Any],
    job_variables: dict[str, Any] | None = None,
) -> UUID:
    """Create one flow run of the deployment, named and tagged after the experiment."""
    with _client() as client:
        run = client.create_flow_run_from_deployment(
            deployment_id,
            parameters=parameters,
            name=name,
            tags=["prefect-dvc", f"exp:{name}"],
            job_variables=job_variables,
        )
    return run.id


def cancel_if_queued(run_id: UUID) -> bool:
    """Cancel the flow run if it is still ``Scheduled`` (no worker took it); True if done.

    A run a worker already took goes on (it will push its experiment).
    """
    with _client() as client:
        run = client.read_flow_run(run_id)
        if run.state is None or run.state.type != StateType.SCHEDULED:
            return False
        result = client.set_flow_run_state(
            run_id, Cancelled(message="prefect-dvc: the command that sent it was interrupted")
        )
    return result.status == SetStateStatus.ACCEPT


def poll(run_ids: list[UUID]) -> dict[UUID, RunState]:
    """The current state of each flow run (one API call); a run without a state is queued."""
    if not run_ids:
        return {}
    with _client() as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=run_ids)), limit=len(run_ids)
        )
    states: dict[UUID, RunState] = {}
    for run in runs:
        state = run.state
        if state is None:
            states[run.id] = RunState("queued", "Scheduled", "")
            continue
        phase = _PHASES.get(state.type, "queued")
        states[run.id] = RunState(phase, state.name, state.message or "")
    return states


def run_url(run_id: UUID) -> str:
    """The flow run's page: ``PREFECT_UI_URL`` or the API URL without ``/api``."""
    base = PREFECT_UI_URL.value() or str(PREFECT_API_URL.value() or "").removesuffix("/api")
    return f"{str(base).rstrip('/')}/runs/flow-run/{run_id}"
