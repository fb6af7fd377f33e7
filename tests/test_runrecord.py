"""Run records tell a live process from a dead one or from a later one reusing its pid."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from prefect_dvc.runrecord import (
    ProcessId,
    RunRecord,
    dead_records,
    helper_processes,
    read_records,
    record_run,
    records_dir,
    write_record,
)


def test_current_process_is_alive_and_a_reused_pid_is_not() -> None:
    me = ProcessId.current()
    assert me.is_local and me.is_alive()
    assert not replace(me, started=me.started - 3600).is_alive()


def test_finished_child_is_dead() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    pid = ProcessId.of(child.pid)
    child.wait()
    assert not pid.is_alive()


def test_record_lives_while_the_body_runs_and_goes_after_an_error(git_repo: Path) -> None:
    record = RunRecord(key="abc", process=ProcessId.current(), flow_run_id="abc", flow="repro")
    with pytest.raises(RuntimeError), record_run(git_repo, record):
        assert read_records(git_repo) == [record]
        assert dead_records(git_repo) == []
        raise RuntimeError("boom")
    assert read_records(git_repo) == []


def test_dead_records_only_of_this_host(git_repo: Path) -> None:
    me = ProcessId.current()
    gone = RunRecord(key="gone", process=replace(me, started=me.started - 60), flow="repro")
    other = RunRecord(key="other", process=replace(me, host="elsewhere", pid=1), flow="repro")
    write_record(git_repo, gone)
    write_record(git_repo, other)
    (records_dir(git_repo) / "junk.json").write_text("{not json")
    assert [r.key for r in dead_records(git_repo)] == ["gone"]
    assert {r.key for r in read_records(git_repo)} == {"gone", "other"}
    assert os.path.exists(records_dir(git_repo) / "junk.json")


def test_helpers_are_children_in_our_group_and_survive_a_json_round_trip(git_repo: Path) -> None:
    # a child in our process group (as Prefect's temporary server) is a helper;
    # a session leader (as a stage command) is not
    helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    stage = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        helpers, _url = helper_processes()
        pids = [h.pid for h in helpers]
        assert helper.pid in pids and stage.pid not in pids
        record = RunRecord(key="k", process=ProcessId.current(), helpers=helpers)
        write_record(git_repo, record)
        assert read_records(git_repo) == [record]
    finally:
        helper.kill()
        stage.kill()
        helper.wait()
        stage.wait()
