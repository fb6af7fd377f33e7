"""Checkpoints: DVC 2's long-running stages that record their progress as they go.

Provides (in submodules, so that ``import prefect_dvc`` stays light):
    signal: the signal-file protocol (``$DVC_ROOT/.dvc/tmp/DVC_CHECKPOINT``)
        and the monitor thread that notices a signal within ~10 ms.
    api: ``make_checkpoint()`` for Python stage code.
    recorder: what one signal does: hash and cache the outs, write the lock
        entry, commit a checkpoint commit on the experiment's chain.
    resume: which checkpoint a new ``exp run`` continues from, and restoring it.

Nothing here imports Prefect; the artifacts live in ``tasks/checkpoint.py``.
"""
