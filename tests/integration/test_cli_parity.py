"""CLI output byte for byte as real DVC 3.67.1 prints it (not a terminal).

The trial found one extra blank line after every plain table (``exp diff``,
``params diff``, ``metrics show/diff``), indented JSON where DVC's is one
line, ``remote default --unset`` missing and ``queue remove --failed``
saying "queued". One twin repository (module-scoped, only read) holds a
changed params and metrics file; DVC's stdout and exit code are the
expected values.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from helpers import gen, git, run_dvc

from prefect_dvc.experiments.queue import Queue, QueuedExp

BEFORE = {
    "params.yaml": "lr: 0.1\nepochs: 3\n",
    "metrics.json": '{"acc": 0.81234, "loss": 1.5}',
    "dvc.yaml": "params:\n- params.yaml\nmetrics:\n- metrics.json\n",
}
# NOTE: metrics/params that change, one that only exists now, one that does not change
AFTER = {
    "params.yaml": "lr: 0.3\nepochs: 3\nextra: x\n",
    "metrics.json": '{"acc": 0.123456789, "loss": 1.5}',
}
TEXT_COMMANDS = [
    ("exp", "diff"),
    ("exp", "diff", "--all"),
    ("exp", "diff", "--md"),
    ("params", "diff"),
    ("params", "diff", "--all"),
    ("params", "diff", "--md"),
    ("metrics", "show"),
    ("metrics", "show", "--md"),
    ("metrics", "diff"),
    ("metrics", "diff", "--md"),
    ("stage", "list"),
]
JSON_COMMANDS = [
    ("exp", "diff", "--json"),
    ("params", "diff", "--json"),
    ("metrics", "show", "--json"),
    ("metrics", "diff", "--json"),
]


def _repo(root: Path, *, changed: bool) -> Path:
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    assert run_dvc(root, "init", "-q").returncode == 0
    gen(root, BEFORE)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "init")
    if changed:
        gen(root, AFTER)
    return root


@pytest.fixture(scope="module")
def changed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _repo(tmp_path_factory.mktemp("parity") / "changed", changed=True)


@pytest.fixture(scope="module")
def unchanged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _repo(tmp_path_factory.mktemp("parity") / "unchanged", changed=False)


@pytest.mark.parametrize("which", ["changed", "unchanged"])
def test_tables_are_dvcs_bytes(which: str, request: pytest.FixtureRequest, cli) -> None:
    repo = request.getfixturevalue(which)
    wrong = {}
    for command in TEXT_COMMANDS:
        ours, theirs = cli(repo, *command), run_dvc(repo, *command)
        if (ours.code, ours.out) != (theirs.returncode, theirs.stdout):
            wrong[" ".join(command)] = (ours.out, theirs.stdout)
    assert wrong == {}


def test_json_is_one_compact_line_with_dvcs_values(changed: Path, cli) -> None:
    for command in JSON_COMMANDS:
        ours, theirs = cli(changed, *command), run_dvc(changed, *command)
        assert ours.code == theirs.returncode == 0, ours.err
        # NOTE: DVC's key order comes from sets (it varies between runs): values are compared
        assert json.loads(ours.out) == json.loads(theirs.stdout), command
        assert ours.out.count("\n") == 1 and ours.out.endswith("}\n"), ours.out
        assert '{"' in ours.out and '": {' in ours.out  # json.dumps' separators, as DVC's


def test_remote_default_prints_and_unsets_as_dvc(tmp_path: Path, cli) -> None:
    ours = _repo(tmp_path / "ours", changed=False)
    theirs = _repo(tmp_path / "theirs", changed=False)
    steps = [
        ("remote", "add", "-d", "store", "/nowhere/store"),
        ("remote", "default"),
        ("remote", "default", "--unset"),
        ("remote", "default"),
        ("remote", "default", "-u"),
        ("remote", "default", "store"),
        ("remote", "default", "-u", "store"),
    ]
    for step in steps:
        mine, dvc = cli(ours, *step), run_dvc(theirs, *step)
        assert mine.code == dvc.returncode, (step, mine.err)
        if step[:3] != ("remote", "add", "-d"):
            assert mine.out == dvc.stdout, step
        config = (ours / ".dvc" / "config").read_bytes()
        assert config == (theirs / ".dvc" / "config").read_bytes(), step
    assert cli(ours, "remote", "default").out == "No default remote set\n"


def test_queue_remove_says_what_dvc_says(tmp_path: Path, cli) -> None:
    repo = _repo(tmp_path / "ours", changed=False)
    base = git(repo, "rev-parse", "HEAD")
    queue = Queue(repo)
    queue.add([QueuedExp(id=uuid.uuid4().hex[:12], name="boom", baseline=base, state="failed")])
    removed = cli(repo, "queue", "remove", "--failed")
    # NOTE: dvc/commands/queue/remove.py: "Removed tasks in queue: {names}" for any state
    assert (removed.code, removed.out) == (0, "Removed tasks in queue: boom\n")
    assert queue.entries() == []
    empty, dvc = (
        cli(repo, "queue", "remove", "--failed"),
        run_dvc(repo, "queue", "remove", "--failed"),
    )
    assert (
        (empty.code, empty.out) == (dvc.returncode, dvc.stdout) == (0, "No tasks found named []\n")
    )
    bare = cli(repo, "queue", "remove")
    assert bare.code != 0 and "Either provide an `tasks` argument" in bare.err
