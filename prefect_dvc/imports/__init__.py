"""``import-url``, ``import`` and ``update``: data brought in from a URL or another repository.

Modules:
    stage_md5: the stage ``md5`` an import's ``.dvc`` file carries.
    target: where an import lands (its out, its ``.dvc`` file) and how it is written.
    url: ``import-url``: sources given as a local path or an fsspec URL.
    repo: ``import``: a path tracked by DVC or Git in another repository.
    repo_source: that repository at a commit: what tracks a path, and its data.
    update: ``update``: re-check an import's source and refresh it.
    status: ``dvc status``'s verdict on import ``.dvc`` files.
"""
