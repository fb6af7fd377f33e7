"""Run our flows in this process, the way the CLI does.

Provides:
    local_settings(): Prefect settings for an interactive run: no flow
        heartbeat (it adds ~1 s to every flow run and only serves the
        zombie-flow automation of deployments; ``prefect-notes.md`` 0.1),
        and, when ``PREFECT_API_URL`` is not set, a running local server
        (``prefect-dvc server start``, the shared background one, or one on
        the default port), started on demand (``flows/background.py``),
        instead of a temporary server in every process.
    run_repro_locally(root, ...): the ``repro`` flow, returning its PipelineRun.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prefect import tags
from prefect.settings import (
    PREFECT_API_URL,
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
    PREFECT_SERVER_ANALYTICS_ENABLED,
    PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
    PREFECT_SERVER_LOGGING_LEVEL,
    temporary_settings,
)

from prefect_dvc.flows.background import api_for_command
from prefect_dvc.flows.experiment import exp_run
from prefect_dvc.flows.repro import repro
from prefect_dvc.tasks.finalize import ExperimentResult
from prefect_dvc.translators.flow import PipelineFailedError, PipelineRun

# NOTE: Prefect's 20 s limit for its temporary server is eaten by database
# migrations on a first run on a busy 2-core machine (prefect-notes.md 2).
EPHEMERAL_STARTUP_TIMEOUT = 120


def _announce(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@contextmanager
def local_settings() -> Iterator[None]:
    """Settings for a run started from the terminal.

    The heartbeat is off, the temporary server may take its time to start,
    and it does not try to send telemetry (no network here: it only logs an
    error). Anything the user set explicitly wins over these defaults.

    Without ``PREFECT_API_URL``, a healthy local server is used if there is
    one (one loopback health request, <=0.3 s), else the shared background
    server is started (``PREFECT_DVC_SERVER``, :mod:`prefect_dvc.flows.background`):
    that saves the temporary server's 4-5 s start on every later command and
    keeps every task run (``prefect-notes.md`` 0.2).
    """
    updates: dict[Any, Any] = {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
    if not PREFECT_API_URL.value():
        url = api_for_command(_announce)
        if url is not None:
            updates[PREFECT_API_URL] = url
        elif "PREFECT_SERVER_LOGGING_LEVEL" not in os.environ:
            # NOTE: the temporary server is stopped at exit while it still
            # records task runs, and prints a traceback per lost event; the
            # run itself is complete, so those lines only alarm (notes 0.2).
            updates[PREFECT_SERVER_LOGGING_LEVEL] = "CRITICAL"
    if "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS" not in os.environ:
        updates[PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS] = EPHEMERAL_STARTUP_TIMEOUT
    if "PREFECT_SERVER_ANALYTICS_ENABLED" not in os.environ:
        updates[PREFECT_SERVER_ANALYTICS_ENABLED] = False
    with temporary_settings(updates=updates):
        yield


def run_repro_locally(root: Path, **parameters: Any) -> PipelineRun:
    """Run the ``repro`` flow on ``root`` and return what happened to each stage."""
    with local_settings():
        state = repro(repo=str(root), **parameters, return_state=True)
    run = state.result(raise_on_failure=False)
    if isinstance(run, PipelineFailedError):
        return run.run
    if isinstance(run, BaseException):
        raise run
    assert isinstance(run, PipelineRun), run
    return run


def run_experiment_locally(
    root: Path,
    *,
    name: str,
    set_params: list[str],
    targets: list[str],
    force: bool,
    jobs: int | None,
    run_cache: bool,
    message: str | None,
    resume: str | None = None,
    reset: bool = False,
    plots: bool = False,
    **cluster: Any,
) -> tuple[PipelineRun | None, ExperimentResult | None, str]:
    """Run the ``exp_run`` flow; returns (failed run, experiment, state message).

    ``plots`` publishes the plots artifact too: off for a run from the
    terminal, where rendering charts (~3 s of vl-convert start-up) would be
    most of the finalizer's time and ``plots diff`` shows them on demand.
    """
    with local_settings(), tags("prefect-dvc", f"exp:{name}"):
        state = exp_run(
            repo=str(root),
            set_params=set_params,
            name=name,
            targets=targets,
            force=force,
            jobs=jobs,
            run_cache=run_cache,
            message=message,
            resume=resume,
            reset=reset,
            plots=plots,
            **cluster,  # NOTE: cluster, cluster_workers, retries (cluster/spec.py)
            return_state=True,
        )
    data = state.result(raise_on_failure=False)
    if isinstance(data, PipelineFailedError):
        return data.run, None, state.message or ""
    if isinstance(data, BaseException):
        raise data
    if isinstance(data, ExperimentResult):
        return None, data, state.message or ""
    assert isinstance(data, PipelineRun), data
    return data, None, state.message or ""
