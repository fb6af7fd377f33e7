"""The remote only when needed (issue #14 §3), end to end with the real CLI.

Read-only commands never open the remote; ``repro``/``exp run`` consult it
once and go on locally with one warning line; ``push``/``pull``/``fetch``
fail with one line naming the real problem; an endpoint that accepts
connections and never answers is given up on within 30 s. The remotes are
real: moto_server buckets, a refused port, and a socket server thread that
accepts and never replies.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import free_port, gen, git, run_dvc
from test_remote import CLI, COUNTING, SECRET, Result, configure_s3, produce, snapshot

from prefect_dvc.storage.reachability import REMEMBER_SECONDS

pytestmark = pytest.mark.s3
GUARD = 30.0  # seconds: the bound, a generous guard rather than a benchmark


def run(repo: Path, *args: str, **env: str) -> tuple[Result, float]:
    """``prefect-dvc args`` without AWS credentials from the environment; and its seconds."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "AWS_"))}
    base["AWS_EC2_METADATA_DISABLED"] = "true"  # no instance-metadata credential lookups
    start = time.monotonic()
    proc = subprocess.run(
        [CLI, *args], cwd=repo, capture_output=True, text=True, env={**base, **env}, timeout=180
    )
    return Result(proc.returncode, proc.stdout, proc.stderr), time.monotonic() - start


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """``http://127.0.0.1:<port>``: accepts every connection and never sends a byte."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(timeout=5)
    for conn in held:
        conn.close()
    server.close()


def pipeline_repo(git_repo: Path, bucket: str, endpoint: str) -> Path:
    """The counting pipeline, produced locally, with an S3 default remote that works."""
    work = git_repo / "work"
    gen(work, COUNTING)
    (git_repo / ".gitignore").write_text("runs.log\n")
    configure_s3(git_repo, bucket, endpoint)
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "pipeline")
    produce(work)
    return work


def warnings_about(err: str, name: str = "s3remote") -> list[str]:
    return [line for line in err.splitlines() if f"running without remote '{name}'" in line]


def modify(work: Path, *args: str) -> None:
    result, _ = run(work, "remote", "modify", "s3remote", *args)
    assert result.code == 0, result.err


# ---------------------------------------------------------------- read-only commands

READ_ONLY = (
    ("status",),
    ("dag",),
    ("repro", "--dry"),
    ("exp", "show"),
    ("params", "diff"),
    ("metrics", "diff"),
)


@pytest.mark.parametrize("kind", ["https", "gs", "refused", "silent"])
def test_read_only_commands_never_open_the_remote(
    git_repo: Path, s3_bucket: str, s3_endpoint: str, silent_endpoint: str, kind: str
) -> None:
    work = pipeline_repo(git_repo, s3_bucket, s3_endpoint)
    if kind in ("https", "gs"):
        url = "https://example.invalid/store" if kind == "https" else "gs://some-bucket/store"
        added, _ = run(work, "remote", "add", "-d", "other", url)
        assert added.code == 0, added.err
    else:
        down = f"http://127.0.0.1:{free_port()}" if kind == "refused" else silent_endpoint
        modify(work, "endpointurl", down)
    (work / "seed.txt").write_text("changed\n")
    before = snapshot(git_repo)
    for command in READ_ONLY:
        result, seconds = run(work, *command)
        assert result.code == 0, (command, result.err)
        assert result.err.strip() == "", (command, result.err)
        assert seconds < GUARD, command
        assert snapshot(git_repo) == before, command
    result, _ = run(work, "status")
    assert "gen" in result.out and "seed.txt" in result.out


# ---------------------------------------------------------------- repro consults


def test_repro_with_refused_remote_warns_once_runs_locally_and_remembers(
    git_repo: Path, s3_bucket: str, s3_endpoint: str, cli
) -> None:
    work = pipeline_repo(git_repo, s3_bucket, s3_endpoint)
    port = free_port()  # nothing listens there
    modify(work, "endpointurl", f"http://127.0.0.1:{port}")
    (work / "seed.txt").write_text("changed\n")
    result = cli(work, "repro")
    assert result.code == 0, result.err
    lines = warnings_about(result.err)
    assert len(lines) == 1, result.err
    assert f"s3://{s3_bucket}/store" in lines[0] and f"127.0.0.1:{port}" in lines[0]
    assert "ERROR" not in result.err and SECRET not in result.out + result.err
    assert (git_repo / "runs.log").read_text() == "gen\ndouble\ngen\n"
    assert (work / "a.txt").read_text().startswith("x" * 100)
    remembered = (git_repo / ".dvc" / "tmp" / "prefect-dvc" / "remote-unreachable.json").read_text()
    assert f"127.0.0.1:{port}" in remembered and SECRET not in remembered

    (work / "seed.txt").write_text("changed again\n")
    result = cli(work, "repro")
    assert result.code == 0, result.err
    lines = warnings_about(result.err)
    assert len(lines) == 1 and "less than a minute ago" in lines[0], result.err
    assert (git_repo / "runs.log").read_text().count("gen") == 3


def test_up_to_date_repro_never_reaches_the_remote(
    git_repo: Path, s3_bucket: str, s3_endpoint: str, silent_endpoint: str
) -> None:
    work = pipeline_repo(git_repo, s3_bucket, s3_endpoint)
    modify(work, "endpointurl", silent_endpoint)
    before = snapshot(git_repo)
    result, seconds = run(work, "repro")
    assert result.code == 0 and "up to date" in result.out, result.err
    assert warnings_about(result.err) == [] and seconds < GUARD
    assert snapshot(git_repo) == before


# ---------------------------------------------------------------- never answering


def test_never_answering_endpoint_is_given_up_within_30s_on_every_command(
    git_repo: Path, s3_bucket: str, s3_endpoint: str, silent_endpoint: str, cli
) -> None:
    work = pipeline_repo(git_repo, s3_bucket, s3_endpoint)
    modify(work, "endpointurl", silent_endpoint)
    (work / "a.txt").unlink()
    before = snapshot(git_repo)
    for command in (["push"], ["fetch"], ["pull"], ["gc", "-w", "-c", "-f"]):
        result, seconds = run(work, *command)
        assert result.code == 1, (command, result.out)
        lines = result.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("ERROR:"), (command, result.err)
        assert "does not answer" in lines[0] and f"s3://{s3_bucket}/store" in lines[0]
        assert seconds < GUARD, (command, seconds)
        assert snapshot(git_repo) == before, command

    (work / "seed.txt").write_text("changed\n")
    start = time.monotonic()
    result = cli(work, "repro")
    assert time.monotonic() - start < GUARD
    assert result.code == 0, result.err
    lines = warnings_about(result.err)
    assert len(lines) == 1 and "does not answer" in lines[0], result.err
    assert (work / "a.txt").exists()


# ---------------------------------------------------------------- say what is true


def test_missing_bucket_is_named_by_pull_push_and_repro(
    git_repo: Path, s3_bucket: str, s3_endpoint: str, cli
) -> None:
    work = pipeline_repo(git_repo, s3_bucket, s3_endpoint)
    missing = f"{s3_bucket}-gone"
    modify(work, "url", f"s3://{missing}/store")
    (work / "a.txt").unlink()
    before = snapshot(git_repo)
    for command in (["pull"], ["push"], ["fetch"], ["gc", "-w", "-c", "-f"]):
        result, _ = run(work, *command)
        assert result.code == 1, (command, result.out)
        lines = result.err.strip().splitlines()
        assert len(lines) == 1, (command, result.err)
        assert f"bucket '{missing}' does not exist" in lines[0], lines[0]
        assert "push" not in lines[0].split("does not exist", 1)[1].lower()
        assert snapshot(git_repo) == before, command

    (work / "seed.txt").write_text("changed\n")
    result = cli(work, "repro")
    assert result.code == 0, result.err
    lines = warnings_about(result.err)
    assert len(lines) == 1 and f"bucket '{missing}' does not exist" in lines[0], result.err


def test_no_credentials_is_one_line_naming_the_bucket(
    git_repo: Path, s3_bucket: str, s3_endpoint: str
) -> None:
    work = pipeline_repo(git_repo, s3_bucket, s3_endpoint)
    modify(work, "--unset", "access_key_id")
    modify(work, "--unset", "secret_access_key")
    before = snapshot(git_repo)
    result, _ = run(work, "push")
    assert result.code == 1
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and f"no credentials found for bucket '{s3_bucket}'" in lines[0]
    assert snapshot(git_repo) == before


def test_pull_flag_needs_the_remote_and_fails_with_one_line(
    git_repo: Path, s3_bucket: str, s3_endpoint: str, cli
) -> None:
    work = pipeline_repo(git_repo, s3_bucket, s3_endpoint)
    modify(work, "url", f"s3://{s3_bucket}-gone/store")
    (work / "a.txt").unlink()
    shutil.rmtree(git_repo / ".dvc" / "cache")  # so the out must come from the remote
    lock = (work / "dvc.lock").read_bytes()
    result = cli(work, "repro", "--pull")
    assert result.code == 1
    assert f"bucket '{s3_bucket}-gone' does not exist" in result.err.strip().splitlines()[-1]
    assert not (work / "a.txt").exists() and (work / "dvc.lock").read_bytes() == lock
    assert not (git_repo / "runs.log").read_text().count("gen") > 1


# ---------------------------------------------------------------- timeout options

TIMEOUT_CASES = [
    ("s3://b/p", "read_timeout", "5"),
    ("s3://b/p", "connect_timeout", "2.5"),
    ("s3://b/p", "read_timeout", "soon"),
    ("s3://b/p", "read_timeout", "-1"),
    ("s3://b/p", "timeout", "5"),
    ("https://host/p", "connect_timeout", "5"),
    ("https://host/p", "read_timeout", "5"),
    ("https://host/p", "timeout", "5"),
    ("azure://c/p", "timeout", "5"),
    ("azure://c/p", "read_timeout", "5"),
    ("azure://c/p", "connection_timeout", "5"),
    ("azure://c/p", "connect_timeout", "5"),
    ("ssh://host/p", "timeout", "5"),
    ("ssh://host/p", "read_timeout", "5"),
    ("webdav://host/p", "timeout", "5"),
    ("webdav://host/p", "timeout", "x"),
]


@pytest.mark.dvc_interop
def test_timeout_options_are_judged_when_written_as_dvc_does(tmp_path: Path) -> None:
    theirs, ours = tmp_path / "dvc", tmp_path / "ours"
    for root in (theirs, ours):
        root.mkdir()
        git(root, "init", "-q")
    assert run_dvc(theirs, "init", "-q").returncode == 0
    gen(ours, {".dvc/config": "", "dvc.yaml": "stages:\n  s:\n    cmd: echo hi\n"})
    for index, (url, key, value) in enumerate(TIMEOUT_CASES):
        name = f"r{index}"
        assert run_dvc(theirs, "remote", "add", name, url).returncode == 0
        assert run(ours, "remote", "add", name, url)[0].code == 0
        # NOTE: "--" so a value such as -1 is not read as an option.
        verdict = run_dvc(theirs, "remote", "modify", name, key, "--", value).returncode == 0
        config = (ours / ".dvc" / "config").read_bytes()
        result, _ = run(ours, "remote", "modify", name, key, "--", value)
        assert (result.code == 0) == verdict, (url, key, value, result.err)
        if not verdict:
            assert len(result.err.strip().splitlines()) == 1, result.err
            assert (ours / ".dvc" / "config").read_bytes() == config
    # NOTE: what was accepted when written is never rejected later, by any command.
    for name in ("r0", "r1", "r3", "r5", "r8", "r10", "r12", "r14"):
        assert run(ours, "remote", "default", name)[0].code == 0
        for command in (("status",), ("repro", "--dry")):
            result, _ = run(ours, *command)
            assert result.code == 0 and result.err.strip() == "", (name, result.err)


def test_s3_timeouts_are_used_and_never_rejected_later(
    git_repo: Path, s3_bucket: str, s3_endpoint: str, silent_endpoint: str
) -> None:
    work = pipeline_repo(git_repo, s3_bucket, s3_endpoint)
    modify(work, "read_timeout", "1")
    modify(work, "connect_timeout", "1")
    result, _ = run(work, "push")
    assert result.code == 0 and "pushed" in result.out, result.err
    modify(work, "endpointurl", silent_endpoint)
    result, seconds = run(work, "fetch")
    assert result.code == 1 and "does not answer" in result.err
    # two attempts of 1 s each, where the default is 6 s each
    assert seconds < 12, seconds


def test_failure_is_remembered_for_a_minute_only(tmp_path: Path) -> None:
    from prefect_dvc.storage.reachability import (
        forget_failure,
        remember_failure,
        remembered_failure,
    )

    url = "s3://bucket/store"
    assert remembered_failure(tmp_path, url) is None
    remember_failure(tmp_path, url, "the endpoint does not answer")
    assert remembered_failure(tmp_path, url) == "the endpoint does not answer"
    assert remembered_failure(tmp_path, "s3://other/store") is None
    later = time.time() + REMEMBER_SECONDS + 1
    assert remembered_failure(tmp_path, url, now=later) is None
    forget_failure(tmp_path, url)
    assert remembered_failure(tmp_path, url) is None
    (tmp_path / "remote-unreachable.json").write_text("{not json")
    assert remembered_failure(tmp_path, url) is None


@pytest.mark.prefect
def test_get_started_with_an_https_remote_runs_locally(example_repo: Path, cli) -> None:
    added, _ = run(example_repo, "remote", "add", "-d", "web", "https://example.invalid/dvc")
    assert added.code == 0, added.err
    for command in (("status",), ("repro", "--dry")):
        result, _ = run(example_repo, *command)
        assert result.code == 0 and result.err.strip() == "", (command, result.err)
    result = cli(example_repo, "repro")
    assert result.code == 0, result.err
    assert "ERROR" not in result.err and "does not support" not in result.err
    # NOTE: as README says: an HTTP run-cache is not consulted (no listing), without a word
    assert "example.invalid" not in result.out + result.err
    assert (example_repo / "dvc.lock").is_file()
    result = cli(example_repo, "exp", "run", "-S", "prepare.seed=7")
    assert result.code == 0, result.err
    assert "ERROR" not in result.err and "does not support" not in result.err
    shown, _ = run(example_repo, "exp", "show")
    assert shown.code == 0 and shown.err.strip() == "", shown.err
    pushed, _ = run(example_repo, "push")
    assert pushed.code == 1 and "https://" in pushed.err
    assert len(pushed.err.strip().splitlines()) == 1
    pushed, _ = run(example_repo, "push", "--run-cache")
    assert pushed.code == 1 and "https://example.invalid/dvc" in pushed.err
    assert len(pushed.err.strip().splitlines()) == 1 and "endpointurl" not in pushed.err
