"""The cluster snapshot: what it holds, and that only missing objects are uploaded."""

from __future__ import annotations

import os
from pathlib import Path

from cluster_project import make_project
from helpers import gen

from prefect_dvc.cluster.snapshot import snapshot_paths, take_snapshot
from prefect_dvc.project import open_stores_for
from prefect_dvc.storage.objects import ObjectStore
from prefect_dvc.translators.index import load_index


def test_snapshot_holds_the_input_set_and_never_secrets_or_dvc_state(git_repo: Path) -> None:
    make_project(git_repo)
    gen(
        git_repo,
        {
            ".dvc/config.local": (
                "['remote \"store\"']\n    url = s3://b/p\n    secret_access_key = s3cr3t\n"
            ),
            ".dvc/cache/files/md5/aa/bb": "object",
            ".dvc/tmp/state": "x",
            "notes.txt": "untracked, not ignored\n",
            "scratch.log": "ignored, no stage reads it\n",
            ".gitignore": "/scratch.log\n",
            "out/s1.txt": "an out present in the workspace\n",
        },
    )

    paths = snapshot_paths(git_repo, load_index(git_repo))

    assert "data/settings.txt" in paths  # a dep Git ignores
    assert "notes.txt" in paths and "out/s1.txt" in paths and "dvc.yaml" in paths
    assert "scratch.log" not in paths
    assert not [p for p in paths if p.startswith((".git/", ".dvc/tmp/", ".dvc/cache/"))]
    assert ".dvc/config.local" not in paths


def test_snapshot_uploads_only_what_the_remote_lacks(git_repo: Path, tmp_path: Path) -> None:
    make_project(git_repo)
    os.chmod(git_repo / "record.py", 0o755)
    remote = ObjectStore.from_url(str(tmp_path / "remote"))
    _stores, hasher = open_stores_for(git_repo, use_remote=False)
    try:
        first = take_snapshot(git_repo, load_index(git_repo), hasher, remote)
        tree = remote.read_tree(first.oid)
        files = {e.relpath: e for e in tree.entries}
        assert files["record.py"].isexec and not files["dvc.yaml"].isexec
        victim = Path(remote.oid_path(files["dvc.yaml"].md5))
        keeper = Path(remote.oid_path(files["record.py"].md5))
        kept_inode = keeper.stat().st_ino
        victim.chmod(0o644)
        victim.unlink()

        second = take_snapshot(git_repo, load_index(git_repo), hasher, remote)
    finally:
        hasher.close()

    assert second == first
    assert victim.read_bytes() == (git_repo / "dvc.yaml").read_bytes()
    assert keeper.stat().st_ino == kept_inode  # NOTE: present objects are not rewritten
