"""``--cluster`` values and refusals: one line, before anything runs or changes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from cluster_project import make_project, s3_config

from prefect_dvc.cluster.spec import ClusterSpec, parse_cluster
from prefect_dvc.errors import ConfigError

CLI = str(Path(sys.executable).with_name("prefect-dvc"))


@pytest.mark.parametrize(
    ("text", "workers", "spec"),
    [
        ("dask", None, ClusterSpec(None, 2)),
        ("dask", 3, ClusterSpec(None, 3)),
        ("dask:4", None, ClusterSpec(None, 4)),
        (" dask:4 ", 4, ClusterSpec(None, 4)),
        ("tcp://scheduler:8786", None, ClusterSpec("tcp://scheduler:8786", 2)),
        ("tls://10.0.0.1:8786", None, ClusterSpec("tls://10.0.0.1:8786", 2)),
    ],
)
def test_parse_cluster_accepts(text: str, workers: int | None, spec: ClusterSpec) -> None:
    assert parse_cluster(text, workers) == spec


@pytest.mark.parametrize(
    ("text", "workers", "says"),
    [
        ("dask:0", None, "at least 1 worker"),
        ("dask", 0, "at least 1 worker"),
        ("dask:2", 3, "disagree"),
        ("dask:x", None, "neither"),
        ("http://host:8786", None, "neither"),
        ("tcp://", None, "neither"),
        ("tcp://host:8786/path", None, "neither"),
        ("", None, "neither"),
        ("tcp://host:8786", 2, "only applies to a local cluster"),
    ],
)
def test_parse_cluster_refuses_in_one_line(text: str, workers: int | None, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_cluster(text, workers)
    assert says in str(caught.value)
    assert "\n" not in str(caught.value)


def _cli(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return subprocess.run([CLI, *args], cwd=repo, capture_output=True, text=True, env=env)


def _state(repo: Path) -> dict[str, bytes]:
    # NOTE: .dvc/tmp holds DVC's lock files, which any command may create.
    files = [
        p
        for p in repo.rglob("*")
        if p.is_file()
        and ".git" not in p.parts
        and not p.relative_to(repo).as_posix().startswith(".dvc/tmp/")
    ]
    return {p.relative_to(repo).as_posix(): p.read_bytes() for p in files}


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("repro", "--cluster", "dask"), "remote add -d"),
        (("exp", "run", "--cluster", "dask:2"), "remote add -d"),
        (("repro", "--cluster", "dask:zero"), "--cluster 'dask:zero'"),
        (("repro", "--cluster-workers", "2"), "needs --cluster dask"),
        (("exp", "run", "--cluster", "dask", "--queue"), "not --queue"),
        (("exp", "run", "--cluster", "dask", "--temp"), "not --queue, --run-all, --temp"),
    ],
)
def test_cli_refuses_before_anything_changes(
    git_repo: Path, args: tuple[str, ...], says: str
) -> None:
    # NOTE: with a default remote when the refusal is not about the remote.
    remote = "" if says == "remote add -d" else s3_config("bucket", "http://127.0.0.1:9")
    make_project(git_repo, remote)
    before = _state(git_repo)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=git_repo, capture_output=True)

    done = _cli(git_repo, *args)

    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], done.stderr
    assert _state(git_repo) == before
    after = subprocess.run(["git", "rev-parse", "HEAD"], cwd=git_repo, capture_output=True)
    assert after.stdout == head.stdout


def test_a_local_repro_refused_by_a_held_path_lock_names_the_stage_once(
    git_repo: Path, prefect_api: None
) -> None:
    from prefect.settings import PREFECT_API_URL

    make_project(git_repo)
    holder = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=-1)
    try:
        out = (git_repo / "out/s1.txt").as_posix()
        (git_repo / ".dvc/tmp").mkdir(parents=True, exist_ok=True)
        (git_repo / ".dvc/tmp/rwlock").write_text(
            json.dumps({"write": {out: {"pid": holder.pid, "cmd": "dvc repro"}}})
        )
        before = _state(git_repo)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env["PREFECT_API_URL"] = str(PREFECT_API_URL.value())
        done = subprocess.run(
            [CLI, "repro", "s1"], cwd=git_repo, capture_output=True, text=True, env=env
        )
    finally:
        holder.communicate(b"")

    assert done.returncode != 0
    assert "stage 's1': cannot run: " in done.stderr, done.stderr
    assert f"PID {holder.pid}: dvc repro" in done.stderr, done.stderr
    error = [line for line in done.stderr.splitlines() if line.startswith("ERROR:")]
    assert len(error) == 1 and error[0].count("stage 's1'") == 1, done.stderr  # not doubled
    assert _state(git_repo) == before


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # NOTE: closed again when the block ends


@pytest.mark.parametrize(
    ("address", "says"),
    [
        ("tcp://127.0.0.1:{closed}", "connection refused"),
        ("tcp://no-such-scheduler.invalid:8786", "does not resolve"),
        ("tcp://127.0.0.1:99999", "no valid host:port"),
    ],
)
def test_an_unreachable_scheduler_is_one_immediate_line_and_changes_nothing(
    git_repo: Path, address: str, says: str
) -> None:
    address = address.format(closed=_closed_port())
    make_project(git_repo, s3_config("bucket", "http://127.0.0.1:9"))
    before = _state(git_repo)

    done = _cli(git_repo, "repro", "-f", "--cluster", address)

    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], done.stderr
    assert address in lines[0] and "--cluster" in lines[0]  # names it, says what to do
    assert done.stdout == ""
    assert _state(git_repo) == before


def test_a_scheduler_that_accepts_but_never_answers_is_one_line_after_the_timeout() -> None:
    from prefect_dvc.cluster.reach import check_scheduler

    with socket.socket() as silent:  # NOTE: the kernel accepts; nothing ever speaks
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        address = f"tcp://127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(ConfigError) as caught:
            check_scheduler(address, seconds=1.0)
    assert str(caught.value).startswith(f"cannot reach the Dask scheduler at {address}: ")
    assert "no answer within" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_dask_logs_are_kept_at_warning_unless_verbose_and_restored_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import logging

    from prefect_dvc.cluster.reach import quiet_dask

    monkeypatch.delenv("DASK_LOGGING__DISTRIBUTED", raising=False)
    logging.getLogger("distributed").setLevel(logging.INFO)
    with quiet_dask(verbose=False):
        assert logging.getLogger("distributed").getEffectiveLevel() == logging.WARNING
        # NOTE: what a new LocalCluster worker process reads when it imports distributed
        assert os.environ["DASK_LOGGING__DISTRIBUTED"] == "warning"
    assert logging.getLogger("distributed").level == logging.INFO
    assert "DASK_LOGGING__DISTRIBUTED" not in os.environ
    with quiet_dask(verbose=True):
        assert logging.getLogger("distributed").level == logging.INFO
        assert "DASK_LOGGING__DISTRIBUTED" not in os.environ
