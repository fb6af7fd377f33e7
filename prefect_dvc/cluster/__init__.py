"""Stages on a Dask cluster, with the DVC remote as the only shared storage (issue #16 §1).

Modules:
    spec: ``--cluster dask[:N]`` / ``tcp://host:8786`` parsed into a :class:`ClusterSpec`.
    snapshot: the workspace's input set as one ``.dir`` manifest on the remote.
    (``storage/leases.py``, beside gc: records under ``<remote>/prefect-dvc/leases/``
        that keep a running snapshot's objects from ``gc -c``.)
    worker: what a stage task does on a worker (run-cache lookup, scratch
        folder, run, publish outs, run-cache entry last).
    stopwatch: on a worker, kills the task's command when the driver is interrupted.
    housekeeping: on a worker, removes dead tasks' scratch folders and trims
        the per-host object cache (LRU, ``PREFECT_DVC_WORKER_CACHE_SIZE``).
    runner: flow-side: the ``DaskTaskRunner``, the scheduling loop and the
        per-stage repository locks (imports Prefect; loaded only with ``--cluster``).

Only ``runner`` imports Prefect or Dask (``tasks/remote_stage.py`` holds
the task); the rest is plain storage and execution code, usable and
testable without a server.
"""
