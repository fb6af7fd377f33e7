"""Checks before queued experiments go to a work pool.

Real Git repositories and bare ``file://`` remotes. The driver loop itself
(the ``-j`` bound, Ctrl+C, failing API calls) is tested against a real
Prefect server and workers in ``tests/integration/test_pool_experiments.py``.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from helpers import git

from prefect_dvc.errors import ConfigError, ExperimentExistsError, GitError
from prefect_dvc.experiments.pool import (
    check_batch,
    remote_url,
    run_parameters,
    unsent_changes,
)
from prefect_dvc.experiments.queue import QueuedExp
from prefect_dvc.experiments.refs import ExpRef


@pytest.fixture
def pushed(git_repo: Path, tmp_path: Path) -> tuple[Path, Path, str]:
    """``(repo, bare remote, baseline)``: the repository's main pushed to ``origin``."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    git(git_repo, "remote", "add", "origin", remote.as_uri())
    git(git_repo, "push", "-q", "origin", "main")
    return git_repo, remote, git(git_repo, "rev-parse", "HEAD")


def _entry(baseline: str, name: str, **kw: Any) -> QueuedExp:
    return QueuedExp(id=uuid.uuid4().hex[:12], name=name, baseline=baseline, **kw)


def _commit(repo: Path, text: str) -> str:
    (repo / "f.txt").write_text(text)
    git(repo, "add", "f.txt")
    git(repo, "commit", "-q", "-m", text)
    return git(repo, "rev-parse", "HEAD")


def test_a_pushed_baseline_and_its_descendants_tip_pass(pushed: tuple[Path, Path, str]) -> None:
    repo, remote, base = pushed
    _commit(repo, "later")
    git(repo, "push", "-q", "origin", "main")  # base is now an ancestor of the tip
    batch = check_batch(repo, "origin", [_entry(base, "a")])
    assert batch.url == remote.as_uri() and [e.name for e in batch.entries] == ["a"]


def test_an_unpushed_baseline_is_refused_naming_remote_and_commit(
    pushed: tuple[Path, Path, str],
) -> None:
    repo, _remote, _base = pushed
    head = _commit(repo, "local only")
    with pytest.raises(GitError) as err:
        check_batch(repo, "origin", [_entry(head, "a")])
    text = str(err.value)
    assert f"baseline {head[:7]} is not on Git remote 'origin'" in text
    assert "git push origin" in text and "\n" not in text


def test_a_baseline_only_under_a_ref_clone_does_not_copy_is_refused(
    pushed: tuple[Path, Path, str],
) -> None:
    repo, remote, _base = pushed
    head = _commit(repo, "parked")
    # e.g. an experiment ref or a review ref: on the remote, but not cloned by workers
    git(repo, "push", "-q", "origin", "HEAD:refs/exps/parked", "HEAD:refs/pull/1/head")
    assert git(remote, "rev-parse", "refs/pull/1/head") == head
    with pytest.raises(GitError, match="is not on Git remote"):
        check_batch(repo, "origin", [_entry(head, "a")])


def test_a_baseline_behind_an_annotated_tag_passes(pushed: tuple[Path, Path, str]) -> None:
    repo, _remote, _base = pushed
    head = _commit(repo, "tagged")
    git(repo, "tag", "-a", "v1", "-m", "v1")
    git(repo, "push", "-q", "origin", "v1")
    assert check_batch(repo, "origin", [_entry(head, "a")]).entries[0].baseline == head


def test_a_name_taken_on_the_remote_is_refused_unless_forced(
    pushed: tuple[Path, Path, str],
) -> None:
    repo, _remote, base = pushed
    git(repo, "push", "-q", "origin", f"HEAD:{ExpRef(base, 'taken').ref}")
    with pytest.raises(ExperimentExistsError, match="'taken' already exists on Git remote"):
        check_batch(repo, "origin", [_entry(base, "free"), _entry(base, "taken")])
    assert check_batch(repo, "origin", [_entry(base, "taken", force=True)])


def test_copy_paths_entries_are_refused(pushed: tuple[Path, Path, str]) -> None:
    repo, _remote, base = pushed
    with pytest.raises(ConfigError, match="copies data/raw.csv"):
        check_batch(repo, "origin", [_entry(base, "a", copy_paths=("data/raw.csv",))])


@pytest.mark.parametrize(
    "url",
    [
        "https://alice:ghp_s3cr3tTOKEN@example.com/acme/model.git",
        "https://example.com/acme/model.git?access_token=s3cr3tTOKEN",
    ],
)
def test_a_remote_url_with_credentials_is_refused_without_echoing_them(
    git_repo: Path, url: str
) -> None:
    git(git_repo, "remote", "add", "origin", url)
    with pytest.raises(GitError) as err:
        remote_url(git_repo, "origin")
    assert "holds credentials" in str(err.value) and "s3cr3tTOKEN" not in str(err.value)


def test_path_remotes_become_file_urls(git_repo: Path, tmp_path: Path) -> None:
    bare = tmp_path / "rel.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(git_repo, "remote", "add", "rel", "../rel.git")
    git(git_repo, "remote", "add", "abs", str(bare))
    assert remote_url(git_repo, "rel") == bare.as_uri()
    assert remote_url(git_repo, "abs") == bare.as_uri()
    assert remote_url(git_repo, str(bare)) == bare.as_uri()


@pytest.mark.parametrize("remote", ["nope", "--upload-pack=touch x", "ext::sh -c id"])
def test_unknown_or_option_like_remotes_are_refused(git_repo: Path, remote: str) -> None:
    with pytest.raises(GitError):
        remote_url(git_repo, remote)
    assert not (git_repo / "x").exists()


def test_an_unreachable_remote_is_one_line(git_repo: Path, tmp_path: Path) -> None:
    git(git_repo, "remote", "add", "origin", (tmp_path / "gone.git").as_uri())
    base = git(git_repo, "rev-parse", "HEAD")
    with pytest.raises(GitError) as err:
        check_batch(git_repo, "origin", [_entry(base, "a")])
    assert "nothing was sent" in str(err.value) and "\n" not in str(err.value)


def test_run_parameters_hold_baseline_overrides_name_and_only_set_options() -> None:
    base = "a" * 40
    assert run_parameters(_entry(base, "x", set_params=("lr=1",))) == {
        "rev": base,
        "set_params": ["lr=1"],
        "name": "x",
    }
    full = run_parameters(_entry(base, "y", targets=("train",), force=True, run_cache=False))
    assert full["targets"] == ["train"] and full["force"] is True and full["run_cache"] is False


def test_uncommitted_files_are_named_only_for_entries_on_the_checked_out_commit(
    pushed: tuple[Path, Path, str],
) -> None:
    repo, _remote, base = pushed
    batch = check_batch(repo, "origin", [_entry(base, "a")])
    assert unsent_changes(repo, batch) == []
    (repo / "train.py").write_text("print(1)\n")
    (repo / ".dvc" / "config").write_text("[core]\n")
    assert unsent_changes(repo, batch) == [".dvc/config", "train.py"]
    _commit(repo, "moved on")
    git(repo, "push", "-q", "origin", "main")
    assert unsent_changes(repo, batch) == []  # its baseline is no longer HEAD


@pytest.mark.parametrize(
    ("baseline", "name"),
    [("--upload-pack=touch x", "a"), ("HEAD", "a"), (None, "../../heads/main"), (None, "-x")],
)
def test_a_damaged_entry_is_refused_before_git_sees_it(
    pushed: tuple[Path, Path, str], baseline: str | None, name: str
) -> None:
    repo, _remote, base = pushed
    entry = _entry(baseline or base, name)
    with pytest.raises(ConfigError, match=f"queued experiment '.*' \\({entry.id}\\) is damaged"):
        check_batch(repo, "origin", [_entry(base, "fine"), entry])
    assert not (repo / "x").exists()


def test_a_failed_entry_whose_name_is_on_the_remote_blocks_no_run_all(
    pushed: tuple[Path, Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    # The trial: Ctrl-C left 'grave' failed while its worker pushed it; the next
    # --run-all --pool refused everything. Only queued entries are sent (DVC's
    # --run-all), so a failed one is neither run nor checked against the remote.
    from prefect_dvc.cli.exp_pool import run_queue_on_pool
    from prefect_dvc.experiments.queue import Queue

    repo, _remote, base = pushed
    git(repo, "push", "-q", "origin", f"HEAD:{ExpRef(base, 'grave').ref}")
    queue = Queue(repo)
    queue.add([_entry(base, "grave", state="failed", message="interrupted while on the pool")])
    before = {p.name: p.read_bytes() for p in queue.folder.iterdir()}
    run_queue_on_pool(repo, "pool", 1, "origin")
    said = capsys.readouterr().out
    assert "No experiment is queued; failed: grave" in said and "queued experiment" not in said
    assert {p.name: p.read_bytes() for p in queue.folder.iterdir()} == before
    assert [e.state for e in queue.entries() if queue.claims.runnable(e)] == []


def test_a_failed_entry_whose_experiment_landed_is_shown_once_as_the_experiment(
    git_repo: Path,
) -> None:
    from datetime import datetime

    from prefect_dvc.experiments.collect import ExpData, ExpRow
    from prefect_dvc.experiments.queue_rows import with_queue_rows

    base = git(git_repo, "rev-parse", "HEAD")
    data = ExpData(rev=base, name=None, timestamp=datetime.now(), params={}, metrics={})
    rows = [
        ExpRow(base, None, "baseline", None, data),
        ExpRow("e" * 40, "grave", "branch_base", base, data),
    ]
    entries = [
        _entry(base, "grave", state="failed", message="interrupted while on the pool"),
        _entry(base, "boom", state="failed", message="exit 1"),
        _entry(base, "next"),
    ]
    shown = with_queue_rows(rows, entries)
    named = [(r.name, r.executor["state"] if r.executor else "done") for r in shown[1:]]
    assert named == [("grave", "done"), ("next", "queued"), ("boom", "failed")]
