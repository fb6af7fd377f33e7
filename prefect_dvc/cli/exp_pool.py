"""``exp run --run-all --pool NAME`` and ``queue start --pool NAME``: the queue on a work pool.

Each runnable queued experiment becomes a flow run of an ``exp_run``
deployment (this repository's Git URL, ``push`` on) on the Prefect work pool
``NAME``; workers anywhere clone the Git remote at the baseline, run and push
the experiment ref and its objects; this command prints one line per change
(queued, running, done or failed, with the run's UI address) and fetches
each experiment as it lands. Everything that can be checked (the Git remote,
the baselines on it, the names free there, the pool) is checked before
anything is sent. See deploy/README.md, "Scale out".

Prefect is imported inside the functions only, as in ``cli/deploy.py``.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from prefect_dvc.cli.output import console, err_console
from prefect_dvc.errors import ConfigError, StageError
from prefect_dvc.experiments.pool import PoolBatch, check_batch, unsent_changes
from prefect_dvc.experiments.pool_driver import PoolApi, Progress, run_batch
from prefect_dvc.experiments.queue import Queue, QueuedExp
from prefect_dvc.experiments.queue_rows import nothing_queued
from prefect_dvc.flows.background import api_for_command
from prefect_dvc.redact import redact


def _say(text: str) -> None:
    console.print(redact(text), soft_wrap=True, markup=False, highlight=False)


def _say_err(text: str) -> None:
    err_console.print(redact(text), soft_wrap=True, markup=False, highlight=False)


def run_queue_on_pool(root: Path, pool: str, jobs: int, git_remote: str) -> None:
    """Run the queue's runnable entries on work pool ``pool``, ``jobs`` flow runs at a time.

    Raises:
        GitError, ConfigError, ExperimentExistsError: a check failed (nothing
            was sent; the queue is as it was).
        StageError: one or more experiments failed (each named; their entries
            stay ``failed``).
    """
    from prefect.settings import PREFECT_API_URL, temporary_settings

    check_pool_name(pool)
    queue = Queue(root)
    # NOTE: only queued entries go: a failed or left-running one may have a worker still pushing
    entries = [e for e in queue.entries() if e.state == "queued" and queue.claims.runnable(e)]
    if not entries:
        busy = queue.claims.running()
        _say(
            nothing_queued(queue.entries())
            if not busy
            else "Every queued experiment is done or being run by another process "
            f"(PID {busy[0]['pid']}); see 'prefect-dvc queue status'."
        )
        return
    batch = check_batch(root, git_remote, entries)
    _warn_about_changes(unsent_changes(root, batch), batch)
    url = PREFECT_API_URL.value() or api_for_command(_say_err)
    if not url:
        raise ConfigError(
            "a work pool needs a Prefect server its workers reach; PREFECT_DVC_SERVER=temporary "
            "gives a per-process one",
            hint="Set PREFECT_API_URL, or start one with 'prefect-dvc server start'",
        )
    with temporary_settings(updates={PREFECT_API_URL: str(url)}):
        api = ready_pool(batch, pool)
        _warn_if_loopback(str(url))
        try:
            results = run_batch(queue, batch, api, jobs=jobs, report=_progress)
        except KeyboardInterrupt:
            raise _interrupted(queue, batch) from None
    _summarise(results)


def check_pool_name(pool: str) -> None:
    """Refuse a name no work pool can have (Prefect forbids '/' and '%'), before any request.

    Raises:
        ConfigError: empty, blank, or holding ``/``, ``%`` or a control character.
    """
    bad = not pool.strip() or any(ch in "/%" or ord(ch) < 32 or ord(ch) == 127 for ch in pool)
    if bad:
        raise ConfigError(
            f"--pool {pool!r} is not a work pool name",
            hint="Pass a name from 'prefect work-pool ls'; nothing was sent",
        )


def _warn_about_changes(changed: list[str], batch: PoolBatch) -> None:
    """One line when the workspace holds changes the workers will not get."""
    if changed:
        shown = ", ".join(changed[:3]) + (" ..." if len(changed) > 3 else "")
        _say_err(
            f"{len(changed)} uncommitted file(s) ({shown}) are not sent: pool workers run the "
            f"baseline as pushed to '{batch.git_remote}'; commit and push them to include them."
        )


def _warn_if_loopback(url: str) -> None:
    """One line when the API listens on this machine only (the local background server)."""
    host = urlparse(url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if loopback:
        _say_err(
            f"The Prefect API {url} is on this machine only: workers here work, workers on "
            "other machines need a reachable PREFECT_API_URL (deploy/README.md, 'Scale out')."
        )


def ready_pool(batch: PoolBatch, pool: str) -> PoolApi:
    """Check the pool, find or create the deployment; the :class:`PoolApi` to send with.

    Talks to the API ``PREFECT_API_URL`` names (the caller sets it) and says in
    one line when the pool is paused or has no online worker.

    Raises:
        ConfigError: no such pool, or the API cannot be used (one line).
    """
    from prefect_dvc.flows import pool_runs

    info = pool_runs.read_pool(pool)
    found = pool_runs.find_deployment(batch.url, pool)
    if found is None:
        name = pool_runs.deployment_name(batch.url, pool)
        dep_id, job_variables = _create_deployment(name, batch.url, pool), None
        _say(f"Created deployment 'exp_run/{name}' on pool '{pool}' for {batch.url}.")
    else:
        name, dep_id, current = found
        job_variables = pool_runs.heartbeat_job_variables(current)
        _say(f"Using deployment 'exp_run/{name}' on pool '{pool}' for {batch.url}.")
    if info.paused:
        _say_err(f"Pool '{pool}' is paused: the runs wait ('prefect work-pool resume {pool}').")
    elif not info.online:
        _say_err(
            f"No worker is online on pool '{pool}' yet: the runs wait for one "
            f"('prefect worker start --pool {pool}')."
        )
    return _PrefectPool(dep_id, job_variables)


def _create_deployment(name: str, url: str, pool: str) -> Any:
    """``prefect-dvc deploy``'s deployment (heartbeats on) with ``repo`` and ``push`` only."""
    from uuid import UUID

    from prefect_dvc.cli.deploy import apply_pool_deployment

    return UUID(apply_pool_deployment(name, {"repo": url, "push": True}, pool))


class _PrefectPool:
    """:class:`PoolApi` over ``flows/pool_runs.py`` for one deployment."""

    def __init__(self, deployment_id: Any, job_variables: dict[str, Any] | None) -> None:
        self.deployment_id = deployment_id
        self.job_variables = job_variables

    def submit(self, entry: QueuedExp, parameters: dict[str, Any]) -> Any:
        from prefect_dvc.flows import pool_runs

        return pool_runs.submit(self.deployment_id, entry.name, parameters, self.job_variables)

    def cancel(self, run_id: Any) -> bool:
        from prefect_dvc.flows import pool_runs

        return pool_runs.cancel_if_queued(run_id)

    def poll(self, run_ids: list[Any]) -> dict[Any, tuple[str, str]]:
        from prefect_dvc.flows import pool_runs

        return {k: (s.phase, s.message) for k, s in pool_runs.poll(run_ids).items()}

    def run_url(self, run_id: Any) -> str:
        from prefect_dvc.flows import pool_runs

        return pool_runs.run_url(run_id)


def _progress(step: Progress) -> None:
    where = f" ({step.url})" if step.url else ""
    detail = f": {step.detail}" if step.detail else ""
    _say(f"{step.name}: {step.phase}{where}{detail}")


def _summarise(results: list[QueuedExp]) -> None:
    failed = [r for r in results if r.state != "success"]
    if failed:
        raise StageError(
            f"{len(failed)} of {len(results)} experiment(s) failed on the pool: "
            + ", ".join(r.name for r in failed),
            hint="Each one's line above links its flow run; their entries stay failed "
            "('prefect-dvc queue status')",
        )
    _say(f"{len(results)} experiment(s) ran on the pool and were fetched ('prefect-dvc exp show').")


def _interrupted(queue: Queue, batch: PoolBatch) -> Exception:
    """Ctrl+C as one line: which runs were cancelled and which go on (exit 130, as a shell's).

    Reads the entries as the driver left them (``pool_driver._abandon``):
    ``queued`` again with a cancelled run, or ``failed`` with a run that goes on.
    """
    import signal

    from prefect_dvc.flows.lifecycle import RunInterruptedError

    sent = {e.id for e in batch.entries}
    cancelled, going = [], []
    for entry in queue.entries():
        if entry.id in sent and entry.message.startswith("interrupted "):
            (cancelled if entry.state == "queued" else going).append(entry.name)
    said = [f"cancelled the runs of {', '.join(cancelled)} (queued again)"] if cancelled else []
    if going:
        said.append(f"the runs of {', '.join(going)} go on (recorded failed here)")
    hint = f"'prefect-dvc exp pull {batch.git_remote}' fetches their experiments once pushed"
    return RunInterruptedError(
        "interrupted: " + ("; ".join(said) or "nothing was on the pool yet"),
        signum=signal.SIGINT,
        hint=hint if going else None,
    )
