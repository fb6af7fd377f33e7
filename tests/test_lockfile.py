"""dvc.lock entries in DVC's order, concurrent stage updates, bad lock files."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from prefect_dvc.errors import DvcYamlError
from prefect_dvc.lockfile import LockFile, build_entry, read_lock
from prefect_dvc.translators.pipeline import Out, StageSpec

STAGE = StageSpec("train", "python train.py", deps=("b.txt", "a.txt"), outs=(Out("m", "m"),))


def test_entry_has_dvc_section_and_key_order() -> None:
    entry = build_entry(
        STAGE,
        deps=[
            {"path": "b.txt", "hash": "md5", "md5": "bb", "size": 2},
            {"path": "a.txt", "hash": "md5", "md5": "aa", "size": 1},
        ],
        params={"params.yaml": {"lr": 0.1}},
        outs=[{"path": "m", "hash": "md5", "md5": "cc.dir", "size": 3, "nfiles": 1}],
    )
    assert list(entry) == ["cmd", "deps", "params", "outs"]
    assert [d["path"] for d in entry["deps"]] == ["a.txt", "b.txt"]
    assert build_entry(StageSpec("x", ("a", "b")), [], {}, []) == {"cmd": ["a", "b"]}


def test_lock_file_text_matches_what_dvc_writes(tmp_path: Path) -> None:
    lock = LockFile(tmp_path / "dvc.lock", ["train"], tmp_path / "tmp")
    lock.update(
        "train",
        build_entry(
            STAGE,
            [{"path": "a.txt", "hash": "md5", "md5": "aa", "size": 1}],
            {"params.yaml": {"train.lr": 0.001, "seed": 7}},
            [{"path": "m", "hash": "md5", "md5": "cc", "size": 3}],
        ),
    )
    assert (tmp_path / "dvc.lock").read_text() == (
        "schema: '2.0'\n"
        "stages:\n"
        "  train:\n"
        "    cmd: python train.py\n"
        "    deps:\n"
        "    - path: a.txt\n"
        "      hash: md5\n"
        "      md5: aa\n"
        "      size: 1\n"
        "    params:\n"
        "      params.yaml:\n"
        "        train.lr: 0.001\n"
        "        seed: 7\n"
        "    outs:\n"
        "    - path: m\n"
        "      hash: md5\n"
        "      md5: cc\n"
        "      size: 3\n"
    )


def test_concurrent_updates_keep_every_stage_in_pipeline_order(tmp_path: Path) -> None:
    names = [f"s{i}" for i in range(30)]
    lock = LockFile(tmp_path / "dvc.lock", names, tmp_path / "tmp")
    threads = [
        threading.Thread(target=lock.update, args=(n, {"cmd": f"echo {n}"}))
        for n in reversed(names)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert list(read_lock(tmp_path / "dvc.lock")) == names


def test_entries_already_in_the_file_keep_their_place_and_new_ones_follow(
    tmp_path: Path,
) -> None:
    # DVC's Lockfile.dump_stages: update in place, append new (checked with dvc 3.67.1)
    path = tmp_path / "dvc.lock"
    path.write_text("schema: '2.0'\nstages:\n  b:\n    cmd: x\n  old:\n    cmd: x\n")
    lock = LockFile(path, ["a", "b", "c"], tmp_path / "tmp")
    for name in ["c", "b", "a"]:
        lock.update(name, {"cmd": f"new {name}"})
    assert list(read_lock(path)) == ["b", "old", "a", "c"]
    assert read_lock(path)["b"] == {"cmd": "new b"}


@pytest.mark.parametrize(
    "text,match",
    [("stages: [\n", "dvc.lock:2: invalid YAML"), ("train:\n  cmd: x\n", "not a schema '2.0'")],
)
def test_bad_lock_files_are_reported_with_what_to_do(tmp_path: Path, text: str, match: str) -> None:
    (tmp_path / "dvc.lock").write_text(text)
    with pytest.raises(DvcYamlError, match=match):
        read_lock(tmp_path / "dvc.lock")
