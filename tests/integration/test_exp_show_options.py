"""``exp show`` with queued rows, ``-a``, ``-T``, ``--hide-*``, ``--param-deps``, as real DVC.

One twin of a small project (lock made by real DVC 3.67.1) with a second
branch, a tag and one queued experiment in each tool's queue; the CSV and
JSON of ``exp show`` must match DVC's, with only the queued row's revision
and creation time (a stash commit in DVC, a queue entry here) masked.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import gen, git, run_dvc

from prefect_dvc.cli import main

TRAIN = """\
import json
lr = float(open("params.yaml").read().split("lr:")[1].split()[0])
json.dump({"acc": lr / 10}, open("m.json", "w"))
"""


def _dvc_yaml() -> str:
    return (
        "stages:\n  train:\n"
        f"    cmd: {sys.executable} train.py\n"
        "    deps: [train.py]\n    params: [lr]\n"
        "    metrics:\n    - m.json:\n        cache: false\n"
    )


@pytest.fixture(scope="module")
def twins(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("show")
    ours = base / "ours"
    ours.mkdir()
    git(ours, "init", "-q", "-b", "main")
    gen(ours, {".dvc/config": "", ".dvc/.gitignore": "/config.local\n/tmp\n/cache\n"})
    gen(ours, {"params.yaml": "lr: 1\nunused: 3\n", "train.py": TRAIN, "dvc.yaml": _dvc_yaml()})
    assert run_dvc(ours, "repro").returncode == 0
    git(ours, "add", "-A")
    git(ours, "commit", "-q", "-m", "base")
    git(ours, "tag", "v1")
    git(ours, "checkout", "-q", "-b", "other")
    gen(ours, {"params.yaml": "lr: 2\nunused: 3\n"})
    assert run_dvc(ours, "repro").returncode == 0
    git(ours, "commit", "-q", "-am", "other")
    git(ours, "checkout", "-q", "main")
    theirs = base / "theirs"
    shutil.copytree(ours, theirs, symlinks=True)
    queued = run_dvc(theirs, "exp", "run", "--queue", "-n", "q1", "-S", "lr=5")
    assert queued.returncode == 0, queued.stderr
    with pytest.MonkeyPatch.context() as m:
        m.chdir(ours)
        assert main(["exp", "run", "--queue", "-n", "q1", "-S", "lr=5"]) == 0
    return ours, theirs


def _ours(root: Path, args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    with pytest.MonkeyPatch.context() as m:
        m.chdir(root)
        assert main(["exp", "show", *args]) == 0
    return capsys.readouterr().out


def _csv_rows(text: str) -> list[dict[str, str]]:
    rows = list(csv.DictReader(io.StringIO(text)))
    for row in rows:
        if row.get("State"):
            row["rev"], row["Created"] = "<queued>", "<time>"
        elif row["Created"]:
            row["Created"] = "<time>"
    return rows


def _masked_json(data: Any) -> Any:
    text = json.dumps(data, sort_keys=True)
    for entry in data:
        for exp in entry.get("experiments") or []:
            if exp["executor"]:
                for rev in exp["revs"]:
                    text = text.replace(rev["rev"], "<queued>")
                    text = text.replace(json.dumps(rev["data"]["timestamp"]), '"<time>"')
    return json.loads(text)


SHOW_ARGS = [
    ["--csv"],
    ["--csv", "-a"],
    ["--csv", "-T"],
    ["--csv", "--hide-queued", "--hide-workspace"],
    ["--csv", "--param-deps"],
    ["--csv", "--rev", "other", "--hide-failed"],
]


@pytest.mark.parametrize("args", SHOW_ARGS, ids=[" ".join(a) for a in SHOW_ARGS])
def test_exp_show_csv_matches_dvc(
    args: list[str], twins: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    ours, theirs = twins
    proc = run_dvc(theirs, "exp", "show", *args)
    assert proc.returncode == 0, proc.stderr
    mine = _csv_rows(_ours(ours, args, capsys))
    assert mine == _csv_rows(proc.stdout)
    assert mine


def test_exp_show_json_lists_the_queued_run_as_dvc(
    twins: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    ours, theirs = twins
    proc = run_dvc(theirs, "exp", "show", "--json")
    assert proc.returncode == 0, proc.stderr
    mine = json.loads(_ours(ours, ["--json"], capsys))
    theirs_json = json.loads(proc.stdout)
    for data in (mine, theirs_json):
        for entry in data:
            for exp in entry.get("experiments") or []:
                if exp["executor"]:
                    exp["executor"]["local"] = None
        for entry in data:
            if entry["data"] and entry["data"]["timestamp"]:
                entry["data"]["timestamp"] = "<time>"
    assert _masked_json(mine) == _masked_json(theirs_json)
    queued = mine[1]["experiments"][0]
    assert queued["executor"]["state"] == "queued"
    assert queued["revs"][0]["data"]["params"]["params.yaml"]["data"]["lr"] == 5
