"""How a local flow run tells the truth when it is stopped or killed.

Provides:
    tracked_run(root, flow): while a flow body runs, keep a run record under
        ``.dvc/tmp/prefect-dvc/runs`` (``runrecord.py``) and turn SIGINT /
        SIGTERM into a stop request (``interrupt.py``).
    RunInterruptedError: the error a stopped run's ``Cancelled`` state carries.
    cancelled_state(run, signum): that state, naming the stages that were running.
    protect_secrets(): first thing in a flow body: redact this process's log
        records and the flow run's parameters as the API stores them.
    settle_dead_records(root, records): what a later command does with the
        records of processes that died: mark their flow runs ``Crashed``
        through the API and put their queue entries back.

Only the last one needs the Prefect API; the CLI imports this module only
once ``runrecord.dead_records`` found something (``cli/reconcile.py``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psutil
from prefect.client.orchestration import get_client
from prefect.exceptions import ObjectNotFound
from prefect.runtime import flow_run
from prefect.settings import (
    PREFECT_API_URL,
    PREFECT_CLIENT_MAX_RETRIES,
    PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
    temporary_settings,
)
from prefect.states import Cancelled, Crashed, State

from prefect_dvc.errors import StageError
from prefect_dvc.experiments.queue import Queue
from prefect_dvc.interrupt import catch_stop_signals, signal_name
from prefect_dvc.redact import install_log_redaction, redact
from prefect_dvc.runrecord import (
    ProcessId,
    RunRecord,
    dead_records,
    forget,
    helper_processes,
    orphans_of,
    record_run,
)
from prefect_dvc.translators.flow import PipelineRun

# NOTE: a queue child told to stop gets this long to end its flow run
# Cancelled itself before it is killed.
_CHILD_GRACE_SECONDS = 20
# NOTE: uvicorn ends on SIGTERM within a second or two; then SIGKILL.
_HELPER_GRACE_SECONDS = 10
# NOTE: a record whose API stays unreachable is retried by every command for a
# week, then dropped so that a server that is gone for good stops the warnings.
_GIVE_UP_SECONDS = 7 * 24 * 3600
# NOTE: as flows/local.py: migrations eat Prefect's 20 s on a busy machine.
_EPHEMERAL_STARTUP_TIMEOUT = 120


class RunInterruptedError(StageError):
    """The run was stopped by SIGINT/SIGTERM; exits 128 + the signal number, as a shell would.

    Args:
        msg: the one-line message naming the signal and the stages stopped.
        signum: the signal received.
        run: what happened to each stage.
    """

    def __init__(
        self, msg: str, *, signum: int = signal.SIGTERM, run: PipelineRun | None = None, **kw: Any
    ) -> None:
        self.signum = int(signum)
        self.exit_code = 128 + self.signum
        self.run = run if run is not None else PipelineRun()
        super().__init__(msg, **kw)


def protect_secrets() -> None:
    """Keep URL credentials out of this run's logs and its parameters on the server.

    A ``repo`` or ``git_remote`` such as ``https://user:token@host/x.git``
    is used as given, but the flow run's stored parameters are replaced by
    their redacted form (one API call, only when something was redacted).
    """
    install_log_redaction()
    run_id = flow_run.get_id()
    params = dict(flow_run.parameters)
    cleaned = {key: _redacted(value) for key, value in params.items()}
    if run_id and cleaned != params:
        with get_client(sync_client=True) as client:
            client.update_flow_run(run_id, parameters=cleaned)  # type: ignore[arg-type]


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [_redacted(item) for item in value]
    if isinstance(value, dict):
        return {key: _redacted(item) for key, item in value.items()}
    return value


@contextlib.contextmanager
def tracked_run(root: Path, flow: str) -> Iterator[RunRecord]:
    """Record this flow run for crash detection and catch stop signals while it runs."""
    run_id = flow_run.get_id()
    api_url = PREFECT_API_URL.value()
    # NOTE: by now the client has started the temporary server if it needs one.
    helpers, helper_api_url = helper_processes()
    record = RunRecord(
        key=str(run_id) if run_id else f"pid-{os.getpid()}",
        process=ProcessId.current(),
        flow_run_id=str(run_id) if run_id else None,
        flow=flow,
        api_url=str(api_url) if api_url else None,
        helpers=helpers,
        helper_api_url=None if api_url else helper_api_url,
    )
    with record_run(root, record), catch_stop_signals():
        yield record


def cancelled_state(run: PipelineRun, signum: int) -> State:
    """``Cancelled`` naming the signal and the stages it stopped; its data is the error."""
    stopped = ", ".join(f"'{name}'" for name in run.failed) or "none"
    error = RunInterruptedError(
        f"interrupted by {signal_name(signum)}; stage(s) stopped while running: {stopped}",
        signum=signum,
        run=run,
        hint="Nothing was recorded for the stopped stages; run the command again to redo them",
    )
    return Cancelled(message=str(error), data=error)


def settle_dead_records(root: Path, records: Sequence[RunRecord], command: str) -> list[str]:
    """Settle what dead local processes left behind; returns one line per action.

    A flow run still Running is set ``Crashed`` (records of runs the API
    no longer knows are dropped; a record whose API cannot be reached is
    kept for the next command). A queue runner's entry goes back to
    ``queued``, after its child run was stopped and its clone removed.
    """
    said = []
    for record in records:
        _stop_orphans(record, said)
        if record.queue_entry:
            said += _settle_queue_runner(root, record, command)
            settled = True
        else:
            settled = not record.flow_run_id or _mark_crashed(record, command, said)
        # NOTE: after marking the run Crashed, which may have needed the helper
        # server; a later retry starts its own temporary server instead.
        _stop_helpers(record, said)
        if settled:
            forget(root, record)
    return said


def _stop_helpers(record: RunRecord, said: list[str]) -> None:
    """Stop the helper processes (Prefect's temporary server) a dead run left running."""
    alive = []
    for helper in record.helpers:
        if helper.is_alive():
            with contextlib.suppress(psutil.Error):
                alive.append(psutil.Process(helper.pid))
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _gone, left = psutil.wait_procs(alive, timeout=_HELPER_GRACE_SECONDS)
    for proc in left:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    for proc in alive:
        said.append(f"stopped pid {proc.pid}, a Prefect server the dead run left running")


def _stop_orphans(record: RunRecord, said: list[str]) -> None:
    """Stop the stage commands a killed run left running (their own process groups)."""
    for proc in orphans_of(record):
        with contextlib.suppress(ProcessLookupError, psutil.Error):
            if os.getpgid(proc.pid) == proc.pid:
                os.killpg(proc.pid, signal.SIGTERM)
            else:
                proc.terminate()
            said.append(f"stopped pid {proc.pid}, a stage command the dead run left running")


def _crash_message(record: RunRecord, command: str) -> str:
    proc = record.process
    return (
        f"the {record.flow or 'flow'} process (pid {proc.pid} on {proc.host}) ended without "
        f"reporting, e.g. killed with SIGKILL; found by 'prefect-dvc {command}'"
    )


def _mark_crashed(record: RunRecord, command: str, said: list[str]) -> bool:
    """Set the record's flow run Crashed unless it is final; False: try again later."""
    updates: dict[Any, Any] = {PREFECT_CLIENT_MAX_RETRIES: 0}
    if record.api_url:
        updates[PREFECT_API_URL] = record.api_url
    elif record.helper_api_url and any(h.is_alive() for h in record.helpers):
        # its temporary server outlived it: same database, no new server to start
        updates[PREFECT_API_URL] = record.helper_api_url
    elif "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS" not in os.environ:
        # the run used the temporary server of the default profile (same database)
        updates[PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS] = _EPHEMERAL_STARTUP_TIMEOUT
    try:
        with temporary_settings(updates=updates), get_client(sync_client=True) as client:
            current = client.read_flow_run(record.flow_run_id).state  # type: ignore[arg-type]
            if current is not None and current.is_final():
                return True
            client.set_flow_run_state(
                record.flow_run_id,  # type: ignore[arg-type]
                Crashed(message=_crash_message(record, command)),
                force=True,
            )
    except ObjectNotFound:
        return True
    except Exception as exc:  # the API is down: keep the record, say so
        if time.time() - record.process.started > _GIVE_UP_SECONDS:
            said.append(
                f"flow run {record.flow_run_id} of a process dead for over a week could not "
                f"be marked Crashed ({type(exc).__name__}); its record is dropped"
            )
            return True
        said.append(
            f"could not mark flow run {record.flow_run_id} Crashed ({type(exc).__name__}); "
            "will retry on the next command"
        )
        return False
    said.append(f"flow run {record.flow_run_id} ({record.flow}) marked Crashed: its process died")
    return True


def _settle_queue_runner(root: Path, record: RunRecord, command: str) -> list[str]:
    said = []
    if record.child is not None and record.child.is_alive():
        _stop(record.child.pid)
    if record.clone:
        clone = Path(record.clone)
        if clone.is_dir():
            said += settle_dead_records(clone, dead_records(clone), command)
        _remove_clone(clone)
    assert record.queue_entry is not None
    entry = Queue(root).put_back(
        record.queue_entry, f"put back: its runner (pid {record.process.pid}) died"
    )
    if entry is not None:
        said.append(f"queued experiment '{entry.name}' put back: the process running it died")
    return said


def _stop(pid: int) -> None:
    with contextlib.suppress(psutil.NoSuchProcess):
        proc = psutil.Process(pid)
        proc.terminate()
        _gone, alive = psutil.wait_procs([proc], timeout=_CHILD_GRACE_SECONDS)
        for left in alive:
            left.kill()


def _remove_clone(clone: Path) -> None:
    """Delete a dead queue run's temporary clone: only a folder the queue made."""
    parent = clone.parent
    if clone.name == "repo" and parent.name.startswith("prefect-dvc-exp-"):
        shutil.rmtree(parent, ignore_errors=True)
