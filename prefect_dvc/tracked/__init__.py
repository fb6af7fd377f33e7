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
    targets: a command-line path resolved, or refused in DVC's words.
    dvcfiles: rewriting a ``.dvc`` file's entry, keeping its comments.
    granular: ``add`` of a path inside a tracked directory.
    ignorelines: removing an out's ``.gitignore`` line.
    stagefiles: removing a stage from ``dvc.yaml``/``dvc.lock``.
"""
