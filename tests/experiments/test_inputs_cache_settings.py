"""A run's private copy of the workspace keeps the cache settings of ``.dvc/config.local``."""

from __future__ import annotations

from pathlib import Path

from helpers import gen, git, run_dvc

from prefect_dvc.config import load_config
from prefect_dvc.experiments.inputs import place_inputs


def test_copy_keeps_local_cache_type_and_shared(git_repo: Path, tmp_path: Path) -> None:
    gen(
        git_repo,
        {
            ".dvc/config.local": (
                "[cache]\n    type = hardlink,symlink\n    shared = group\n"
                "[core]\n    autostage = true\n"
            ),
        },
    )
    dest = tmp_path / "copy"
    git(git_repo, "clone", "-q", "--shared", str(git_repo), str(dest))
    place_inputs(git_repo, dest)
    mine, theirs = load_config(git_repo), load_config(dest)
    assert theirs.cache_types == ("hardlink", "symlink") == mine.cache_types
    assert theirs.cache_shared and mine.cache_shared
    assert theirs.cache_dir == (git_repo / ".dvc" / "cache").resolve()
    # real DVC reads the copy's config the same way
    for key, want in (("cache.type", "hardlink,symlink"), ("cache.shared", "group")):
        got = run_dvc(dest, "config", key)
        assert got.stdout.strip() == want, got.stderr
    assert run_dvc(dest, "config", "core.autostage").stdout.strip() == "true"
