"""The signal-file protocol and the monitor thread, without Prefect."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from prefect_dvc import make_checkpoint
from prefect_dvc.checkpoints.signal import (
    SignalMonitor,
    checkpoint_env,
    error_path,
    send_signal,
    signal_path,
)
from prefect_dvc.errors import CheckpointError


def test_monitor_answers_within_tens_of_ms(tmp_path: Path) -> None:
    seen: list[float] = []
    with SignalMonitor(tmp_path, lambda: seen.append(time.monotonic()) or None):
        started = time.monotonic()
        send_signal(tmp_path, timeout=5)
        waited = time.monotonic() - started
    assert len(seen) == 1
    assert seen[0] - started < 0.1
    assert waited < 0.2
    assert not signal_path(tmp_path).exists()


def test_follow_up_runs_after_the_command_is_released(tmp_path: Path) -> None:
    order: list[str] = []

    def on_signal():
        order.append("record")
        return lambda: order.append(f"follow-up, signal gone={not signal_path(tmp_path).exists()}")

    with SignalMonitor(tmp_path, on_signal):
        send_signal(tmp_path, timeout=5)
        time.sleep(0.05)
    assert order == ["record", "follow-up, signal gone=True"]


def test_failed_signal_raises_in_the_command_and_is_kept(tmp_path: Path) -> None:
    def on_signal():
        raise CheckpointError("no checkpoint out here")

    monitor = SignalMonitor(tmp_path, on_signal)
    with monitor, pytest.raises(CheckpointError, match="no checkpoint out here"):
        send_signal(tmp_path, timeout=5)
    assert [str(e) for e in monitor.errors] == ["no checkpoint out here."]
    assert not error_path(tmp_path).exists()


def test_stale_signal_file_is_cleared_on_start(tmp_path: Path) -> None:
    signal_path(tmp_path).parent.mkdir(parents=True)
    signal_path(tmp_path).touch()
    calls: list[int] = []
    with SignalMonitor(tmp_path, lambda: calls.append(1) or None):
        time.sleep(0.05)
    assert calls == []


def test_make_checkpoint_is_a_no_op_outside_a_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    monkeypatch.delenv("DVC_CHECKPOINT", raising=False)
    monkeypatch.delenv("PREFECT_DVC_MONITOR", raising=False)
    started = time.monotonic()
    make_checkpoint()
    assert time.monotonic() - started < 0.05
    assert not signal_path(tmp_path).exists()


def test_make_checkpoint_blocks_until_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DVC_CHECKPOINT", "1")
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    recorded: list[bool] = []

    def on_signal():
        time.sleep(0.1)  # the command must still be waiting here
        recorded.append(True)
        return None

    with SignalMonitor(tmp_path, on_signal):
        make_checkpoint()
        assert recorded == [True]


def test_checkpoint_env_is_dvc2s() -> None:
    env = checkpoint_env(Path("/r"), resume=True)
    assert env["DVC_CHECKPOINT"] == "1"
    assert env["DVC_ROOT"] == "/r"
    assert env["DVCLIVE_RESUME"] == "1"
    assert "DVCLIVE_RESUME" not in checkpoint_env(Path("/r"), resume=False)
