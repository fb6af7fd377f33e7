"""Data tracked by ``.dvc`` files: ``add``, ``commit``, ``move``, ``remove`` and their status.

Modules:
    outs: every out of the repository (``.dvc`` files and ``dvc.yaml``
        stages) and DVC's overlap rules between them.
    save: hash a workspace path, put it into the cache (moving, not
        copying) and link it back per ``cache.type``.
    add: ``dvc add``.
    commit: ``dvc commit``.
    move: ``dvc move`` and ``dvc remove``.
    status: ``.dvc`` files in ``dvc status``.
    scm: the ``git add`` hint and ``core.autostage``.
"""
