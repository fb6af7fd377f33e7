"""``--cluster`` parsed: a new local Dask cluster or an existing scheduler's address.

Provides:
    ClusterSpec: where stage tasks run (frozen, picklable; a flow parameter's value).
    parse_cluster(text, workers): ``dask``, ``dask:N`` or ``tcp://host:port``.
    require_remote(root): the default remote's config, or one line naming ``remote add -d``.
    cannot_ship(stage): why a stage cannot run on a worker (a ``StageError``), or ``None``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from prefect_dvc.cluster.reach import check_scheduler
from prefect_dvc.config import RemoteConfig, load_config
from prefect_dvc.errors import ConfigError, StageError
from prefect_dvc.external import is_external, is_url
from prefect_dvc.translators.pipeline import StageSpec

DEFAULT_WORKERS = 2
_LOCAL = re.compile(r"dask(?::(?P<n>\d+))?")
_ADDRESS = re.compile(r"(?:tcp|tls|ws|wss|inproc|ucx)://[^\s/]+")


@dataclass(frozen=True)
class ClusterSpec:
    """A Dask cluster for stage tasks.

    ``address`` is an existing scheduler (``tcp://host:8786``), or ``None``
    for a new ``LocalCluster`` of ``workers`` worker processes (one thread each,
    so one stage at a time per worker) started and stopped with the run.
    """

    address: str | None = None
    workers: int = DEFAULT_WORKERS

    def describe(self) -> str:
        """``Dask scheduler tcp://…`` or ``a local Dask cluster of N workers``, for messages."""
        if self.address:
            return f"Dask scheduler {self.address}"
        return f"a local Dask cluster of {self.workers} worker(s)"


def parse_cluster(text: str, workers: int | None = None) -> ClusterSpec:
    """Parse ``--cluster`` (and ``--cluster-workers``).

    Args:
        text: ``dask`` (a LocalCluster of ``workers`` or 2 processes),
            ``dask:N`` (N processes), or a scheduler address such as
            ``tcp://scheduler:8786``.
        workers: ``--cluster-workers``; only with a local cluster.

    Raises:
        ConfigError: any other text, a worker count below 1, or
            ``--cluster-workers`` with a scheduler address (one line each).
    """
    value = text.strip()
    local = _LOCAL.fullmatch(value)
    if local:
        count = int(local["n"]) if local["n"] else (DEFAULT_WORKERS if workers is None else workers)
        if local["n"] and workers is not None and workers != count:
            raise ConfigError(
                f"--cluster '{value}' and --cluster-workers {workers} disagree",
                hint="Give the number of workers once",
            )
        if count < 1:
            raise ConfigError(
                f"--cluster '{value}' needs at least 1 worker", hint="Use e.g. --cluster dask:4"
            )
        return ClusterSpec(None, count)
    if _ADDRESS.fullmatch(value):
        if workers is not None:
            raise ConfigError(
                "--cluster-workers only applies to a local cluster ('--cluster dask')",
                hint=f"The scheduler at {value} decides its own workers",
            )
        return ClusterSpec(value, DEFAULT_WORKERS)
    raise ConfigError(
        f"--cluster '{value}' is neither 'dask', 'dask:N' nor a scheduler address",
        hint="Use --cluster dask, --cluster dask:4 or --cluster tcp://host:8786",
    )


def require_remote(root: Path) -> RemoteConfig:
    """The default remote, the only storage driver and workers share.

    Raises:
        ConfigError: no default remote (names ``remote add -d``), or an unknown one.
    """
    config = load_config(root)
    if not config.default_remote:
        raise ConfigError(
            "--cluster needs a default remote: workers share no disk with this machine",
            path=".dvc/config",
            hint="Add one with 'prefect-dvc remote add -d <name> <url>' (e.g. s3://bucket/path)",
        )
    return config.remote(None)


def check_cluster(root: Path, text: str | None, workers: int | None) -> ClusterSpec | None:
    """Validate ``--cluster``/``--cluster-workers`` before anything runs (no Prefect import).

    A scheduler address is connected to (TCP, :data:`reach.CONNECT_SECONDS`)
    so a wrong one is said at once, before the flow starts.

    Raises:
        ConfigError: a bad ``--cluster`` value, ``--cluster-workers`` without
            ``--cluster``, no default remote, or a scheduler that cannot be
            reached (refused, unknown host, no answer; one line each).
    """
    if not text:
        if workers is not None:
            raise ConfigError("--cluster-workers needs --cluster dask", hint="Add --cluster dask")
        return None
    spec = parse_cluster(text, workers)
    require_remote(root)
    if spec.address:
        check_scheduler(spec.address)
    return spec


def cluster_parameters(
    text: str | None, workers: int | None, retries: int | None
) -> dict[str, object]:
    """The ``repro``/``exp_run`` flow parameters for these options (empty without ``--cluster``)."""
    if not text:
        return {}
    return {"cluster": text, "cluster_workers": workers, "retries": retries or 0}


def cannot_ship(stage: StageSpec) -> StageError | None:
    """Why ``stage`` cannot run on a worker that shares no disk, or ``None``.

    A checkpoint stage needs the driver to watch its signal file, an out
    outside the repository would be written on the worker's own disk, and a
    local dep outside it is not in the snapshot (URL deps are fine).
    """
    local_outside = [p for p in stage.dep_repo_paths if is_external(p) and not is_url(p)]
    if stage.checkpoint_outs:
        why = "a checkpoint stage cannot run on a cluster"
    elif any(out.is_external for out in stage.outs):
        why = "a stage with an out outside the repository cannot run on a cluster"
    elif local_outside:
        why = f"dep '{local_outside[0]}' is outside the repository, which workers do not have"
    else:
        return None
    return StageError(
        why,
        path=stage.dvcfile,
        line=stage.line,
        stage=stage.name,
        hint="Run it without --cluster",
    )
