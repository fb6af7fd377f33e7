"""Stages on a Dask cluster, with the DVC remote as the only shared storage (issue #16 §1).

Modules:
    spec: ``--cluster dask[:N]`` / ``tcp://host:8786`` parsed into a :class:`ClusterSpec`.
    snapshot: the workspace's input set as one ``.dir`` manifest on the remote.
    (``storage/leases.py``, beside gc: records under ``<remote>/prefect-dvc/leases/``
        that keep a running snapshot's objects from ``gc -c``.)
    worker: what a stage task does on a worker (run-cache lookup, scratch
        folder, run, publish outs, run-cache entry last).
    runner: flow-side: the ``DaskTaskRunner`` and the scheduling loop (imports
        Prefect; loaded only when ``--cluster`` is given).

Only ``runner`` imports Prefect or Dask (``tasks/remote_stage.py`` holds
the task); the rest is plain storage and execution code, usable and
testable without a server.
"""
