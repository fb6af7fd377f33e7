"""Checks before queued experiments go to a work pool, and the driver loop.

Real Git repositories and bare ``file://`` remotes; the orchestrator is a
recording fake of the :class:`PoolApi` seam that "runs" an experiment by
committing it on the remote as a worker's push would (the real worker path
is ``tests/integration/test_pool_experiments.py``).
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from helpers import git

from prefect_dvc.errors import ConfigError, ExperimentExistsError, GitError
from prefect_dvc.experiments.pool import (
    PoolBatch,
    check_batch,
    remote_url,
    run_parameters,
    unsent_changes,
)
from prefect_dvc.experiments.pool_driver import Progress, run_batch
from prefect_dvc.experiments.queue import Queue, QueuedExp
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


class FakePool:
    """Runs advance one phase per poll; ``done`` runs commit their experiment on the remote."""

    def __init__(self, remote: Path, fail: set[str] = frozenset(), refuse: set[str] = frozenset()):
        self.remote, self.fail, self.refuse = remote, set(fail), set(refuse)
        self.runs: dict[int, tuple[QueuedExp, str]] = {}
        self.params: list[dict[str, Any]] = []
        self.most_in_flight = 0
        self.interrupt_at_poll: int | None = None
        self.polls = 0
        self.cancellable: set[int] = set()
        self.broken_polls: set[int] = set()

    def submit(self, entry: QueuedExp, parameters: dict[str, Any]) -> int:
        if entry.name in self.refuse:
            raise RuntimeError("the server\nsaid no")
        self.params.append(parameters)
        run_id = len(self.runs) + 1
        self.runs[run_id] = (entry, "queued")
        live = sum(1 for _, phase in self.runs.values() if phase not in ("done", "failed"))
        self.most_in_flight = max(self.most_in_flight, live)
        return run_id

    def poll(self, run_ids: list[int]) -> dict[int, tuple[str, str]]:
        self.polls += 1
        if self.polls == self.interrupt_at_poll:
            raise KeyboardInterrupt
        if self.polls in self.broken_polls:
            raise RuntimeError("503 Service Unavailable")
        out = {}
        for run_id in run_ids:
            entry, phase = self.runs[run_id]
            phase = {"queued": "running", "running": "done"}.get(phase, phase)
            if phase == "done" and entry.name in self.fail:
                phase = "failed"
            if phase == "done":
                self._push(entry)
            self.runs[run_id] = (entry, phase)
            out[run_id] = (phase, "stage 'train'\n  failed" if phase == "failed" else "")
        return out

    def run_url(self, run_id: int) -> str:
        return f"http://ui/runs/flow-run/{run_id}"

    def cancel(self, run_id: int) -> bool:
        return run_id in self.cancellable

    def _push(self, entry: QueuedExp) -> None:
        tree = git(self.remote, "rev-parse", f"{entry.baseline}^{{tree}}")
        sha = git(self.remote, "commit-tree", tree, "-p", entry.baseline, "-m", entry.name)
        git(self.remote, "update-ref", ExpRef(entry.baseline, entry.name).ref, sha)


def _queued(repo: Path, base: str, names: list[str]) -> tuple[Queue, PoolBatch]:
    queue = Queue(repo)
    entries = [replace(_entry(base, n), created=i) for i, n in enumerate(names)]
    queue.add(entries)
    return queue, check_batch(repo, "origin", entries)


def test_the_driver_bounds_runs_in_flight_and_fetches_each_result(
    pushed: tuple[Path, Path, str],
) -> None:
    repo, remote, base = pushed
    queue, batch = _queued(repo, base, ["e1", "e2", "e3", "e4", "e5"])
    fake, lines = FakePool(remote, fail={"e3"}, refuse={"e5"}), []
    results = run_batch(queue, batch, fake, jobs=2, report=lines.append, poll_seconds=0)
    assert fake.most_in_flight == 2
    states = {e.name: e.state for e in queue.entries()}
    assert states == {"e1": "success", "e2": "success", "e3": "failed", "e4": "success"} | {
        "e5": "failed"
    }
    assert sorted(r.name for r in results) == ["e1", "e2", "e3", "e4", "e5"]
    for name in ("e1", "e2", "e4"):  # fetched into the repository, as exp pull would
        ref = ExpRef(base, name).ref
        assert git(repo, "rev-parse", ref) == git(remote, "rev-parse", ref)
    assert {p["name"] for p in fake.params} == {"e1", "e2", "e3", "e4"}
    failed = queue.find("e3")
    assert failed.message == "stage 'train' failed" and not queue.claims.running()
    assert "not sent: the server said no" in queue.find("e5").message
    phases = [(p.name, p.phase) for p in lines if p.name == "e1"]
    assert phases == [("e1", "queued"), ("e1", "running"), ("e1", "done")]
    assert all(p.url.startswith("http://ui/runs/flow-run/") for p in lines if p.name != "e5")


def test_an_interrupt_cancels_untaken_runs_and_records_taken_ones_as_failed(
    pushed: tuple[Path, Path, str],
) -> None:
    repo, remote, base = pushed
    queue, batch = _queued(repo, base, ["i1", "i2", "i3"])
    fake = FakePool(remote)
    fake.interrupt_at_poll, fake.cancellable = 1, {1}  # a worker already took run 2
    lines: list[Progress] = []
    with pytest.raises(KeyboardInterrupt):
        run_batch(queue, batch, fake, jobs=2, report=lines.append, poll_seconds=0)
    states = {e.name: (e.state, e.message) for e in queue.entries()}
    assert states["i1"][0] == "queued" and "flow-run/1 was cancelled" in states["i1"][1]
    assert states["i2"] == ("failed", "interrupted while on the pool: http://ui/runs/flow-run/2")
    assert states["i3"] == ("queued", "")
    assert not queue.claims.running()  # a later queue start may send them again
    assert git(repo, "for-each-ref", "refs/exps") == ""


def test_failed_polls_are_retried_then_end_the_batch_recording_its_runs(
    pushed: tuple[Path, Path, str],
) -> None:
    repo, remote, base = pushed
    queue, batch = _queued(repo, base, ["r1"])
    flaky = FakePool(remote)
    flaky.broken_polls = {1, 2}  # the API restarting: two rounds lost, then it answers
    run_batch(queue, batch, flaky, jobs=1, report=lambda p: None, poll_seconds=0)
    assert queue.find("r1").state == "success"
    queue2, batch2 = _queued(repo, base, ["r2"])
    down = FakePool(remote)
    down.broken_polls = set(range(1, 100))
    with pytest.raises(RuntimeError, match="503"):
        run_batch(queue2, batch2, down, jobs=1, report=print, poll_seconds=0, poll_failures=3)
    assert down.polls == 3
    r2 = queue2.find("r2")
    assert r2.state == "failed" and r2.message.endswith("flow-run/1")
    assert not queue2.claims.running()


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
