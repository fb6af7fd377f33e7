"""A damaged ``dvc.lock`` is one line naming the file, line and stage, as DVC refuses it.

Each row is a lock DVC 3.67.1 rejects (``dvc status`` fails with "validation
failed" or "is invalid"); ours must fail with one line, exit 1, no traceback,
and leave every file as it was. Readers of locks at Git revisions get the
same error class, so ``exp show`` marks the revision instead of crashing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import gen, git, run_dvc

from prefect_dvc.errors import DvcYamlError, SchemaError, YamlSyntaxError
from prefect_dvc.experiments.collect import deps_and_outs
from prefect_dvc.lockfile import read_lock
from prefect_dvc.lockschema import parse_lock
from prefect_dvc.storage.sync import lock_hashes

CLI = str(Path(sys.executable).with_name("prefect-dvc"))
DVC_YAML = "stages:\n  s1:\n    cmd: cp a.txt o1.txt\n    deps: [a.txt]\n    outs: [o1.txt]\n"
HEAD = "schema: '2.0'\nstages:\n"
DEP = "      hash: md5\n      md5: 60b725f10c9c85c70d97880dfe8191b3\n      size: 2\n"

DAMAGED = {
    "stages-a-list": (HEAD.replace("stages:\n", "stages: []\n"), "dvc.lock:2: 'stages' must be"),
    "entry-a-string": (HEAD + "  s1: hello\n", "dvc.lock:3: stage 's1': expected a mapping"),
    "entry-without-cmd": (HEAD + "  s1:\n    deps: []\n", "dvc.lock:3: stage 's1': missing"),
    "cmd-a-mapping": (HEAD + "  s1:\n    cmd: {a: 1}\n", "dvc.lock:4: stage 's1': 'cmd' must"),
    "deps-an-int": (HEAD + "  s1:\n    cmd: x\n    deps: 5\n", "dvc.lock:5: stage 's1': 'deps'"),
    "dep-without-path": (
        HEAD + "  s1:\n    cmd: x\n    deps:\n    - md5: abc\n",
        "dvc.lock:6: stage 's1': missing required key 'path'",
    ),
    "dep-a-string": (
        HEAD + "  s1:\n    cmd: x\n    deps:\n    - a.txt\n",
        "dvc.lock:6: stage 's1': expected a mapping with 'path'",
    ),
    "md5-an-int": (
        HEAD + "  s1:\n    cmd: x\n    outs:\n    - path: o1.txt\n      md5: 5\n",
        "dvc.lock:7: stage 's1': 'md5' has the wrong type",
    ),
    "size-a-string": (
        HEAD + "  s1:\n    cmd: x\n    deps:\n    - path: a.txt\n" + DEP.replace("2", "big"),
        "dvc.lock:9: stage 's1': 'size' has the wrong type",
    ),
    "params-a-list": (
        HEAD + "  s1:\n    cmd: x\n    params: [a]\n",
        "dvc.lock:5: stage 's1': 'params' must be a mapping",
    ),
    "params-file-a-list": (
        HEAD + "  s1:\n    cmd: x\n    params:\n      params.yaml: [1]\n",
        "dvc.lock:6: stage 's1': params of 'params.yaml' must be a mapping",
    ),
    "unknown-entry-key": (HEAD + "  s1:\n    cmd: x\n    md5s: []\n", "dvc.lock:5: stage 's1':"),
    "yaml-syntax": (HEAD + "  s1: {cmd: [}\n", "dvc.lock:3: invalid YAML"),
    "top-level-string": ("hello\n", "dvc.lock:1: expected a mapping, got str"),
    "wrong-schema": ("schema: '3.0'\nstages: {}\n", "dvc.lock:1: not a schema '2.0' lock file"),
}


@pytest.mark.dvc_interop
@pytest.mark.parametrize("row", list(DAMAGED))
def test_damaged_lock_is_one_line(git_repo: Path, row: str) -> None:
    text, expected = DAMAGED[row]
    gen(git_repo, {"dvc.yaml": DVC_YAML, "a.txt": "a\n", "dvc.lock": text})
    theirs = run_dvc(git_repo, "status")
    assert theirs.returncode != 0
    assert "dvc.lock' validation failed" in theirs.stderr or "is invalid" in theirs.stderr
    before = {p: p.read_bytes() for p in git_repo.rglob("*") if p.is_file()}
    proc = subprocess.run([CLI, "status"], cwd=git_repo, capture_output=True, text=True)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith(f"ERROR: {expected}"), lines[0]
    after = {p: p.read_bytes() for p in git_repo.rglob("*") if p.is_file()}
    assert {p: b for p, b in after.items() if ".dvc/tmp" not in str(p)} == {
        p: b for p, b in before.items() if ".dvc/tmp" not in str(p)
    }
    with pytest.raises(DvcYamlError) as info:
        read_lock(git_repo / "dvc.lock")
    assert str(info.value).startswith(expected)


@pytest.mark.parametrize("row", list(DAMAGED))
def test_lock_readers_of_revisions_raise_the_same_error(row: str) -> None:
    text, expected = DAMAGED[row]
    with pytest.raises((SchemaError, YamlSyntaxError)) as info:
        deps_and_outs(DVC_YAML.encode(), text.encode(), [])
    assert str(info.value).startswith(expected)
    with pytest.raises((SchemaError, YamlSyntaxError)):
        lock_hashes(text, display="abc1234:dvc.lock")


@pytest.mark.parametrize("text", ["", "[]\n", "false\n", "schema: '2.0'\n"])
def test_empty_locks_have_no_entries(text: str) -> None:
    assert parse_lock(text) == {}


def test_lock_written_by_dvc_reads_back(git_repo: Path) -> None:
    gen(git_repo, {"dvc.yaml": DVC_YAML, "a.txt": "a\n"})
    git(git_repo, "add", "-A")
    done = run_dvc(git_repo, "repro")
    assert done.returncode == 0, done.stderr
    entries = read_lock(git_repo / "dvc.lock")
    assert list(entries) == ["s1"]
    assert entries["s1"]["deps"][0]["path"] == "a.txt"
    assert entries["s1"]["outs"][0]["md5"] == "60b725f10c9c85c70d97880dfe8191b3"
