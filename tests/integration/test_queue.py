"""The experiment queue through the real CLI: ``exp run --queue``, sweeps, ``queue ...``.

A one-stage pipeline whose metric is computed from two params keeps the
child runs cheap, so a queue of seven (six good, one failing) runs with
``-j 3`` in a few seconds of real work.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import gen, git

pytestmark = pytest.mark.prefect

PIPELINE = {
    "params.yaml": "lr: 1  # learning rate\nepochs: 1\nfail: 0\n",
    "dvc.yaml": """\
stages:
  train:
    cmd: >-
      test ${fail} -eq 0 || { echo "boom: fail was ${fail}" >&2; exit 3; } ;
      echo '{"score": '$((${lr} * ${epochs}))', "extra": '$(cat extra.txt)'}' > metrics.json
    deps: [extra.txt]
    params: [lr, epochs, fail]
    metrics:
      - metrics.json:
          cache: false
""",
}


@pytest.fixture
def repo(git_repo: Path) -> Path:
    gen(git_repo, PIPELINE)
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "pipeline")
    # Untracked and not ignored: it must travel into every clone.
    gen(git_repo, {"extra.txt": "7\n"})
    return git_repo


def _refs(root: Path) -> dict[str, str]:
    out = git(root, "for-each-ref", "--format=%(refname) %(objectname)", "refs/exps")
    return {line.split()[0].rsplit("/", 1)[1]: line.split()[1] for line in out.splitlines()}


def _status(cli, root: Path) -> dict[str, dict]:
    result = cli(root, "queue", "status", "--json")
    assert result.code == 0, result.err
    return {e["name"]: e for e in json.loads(result.out)}


def test_sweep_queue_runs_three_at_a_time_each_with_its_own_metrics(
    repo: Path, cli, prefect_api: None
) -> None:
    params_before = (repo / "params.yaml").read_text()
    queued = cli(repo, "exp", "run", "--queue", "-S", "lr=1,2,3", "-S", "epochs=range(1,3)")
    assert queued.code == 0, queued.err
    assert queued.out.count("Queued experiment") == 6
    bad = cli(repo, "exp", "run", "--queue", "-n", "boom", "-S", "fail=1")
    assert bad.code == 0, bad.err
    status = _status(cli, repo)
    assert len(status) == 7 and {e["state"] for e in status.values()} == {"queued"}
    assert _refs(repo) == {}
    assert (repo / "params.yaml").read_text() == params_before

    ran = cli(repo, "queue", "start", "-j", "3")
    assert ran.code == 1  # one failed
    assert "1 of 7 queued experiment(s) failed: boom" in ran.err
    assert "boom: fail was 1" in ran.err  # the log's tail is shown
    refs = _refs(repo)
    assert set(refs) == set(status) - {"boom"}
    base = git(repo, "rev-parse", "HEAD")
    seen = set()
    for name, sha in refs.items():
        overrides = dict(o.split("=") for o in status[name]["set_params"])
        metrics = json.loads(git(repo, "show", f"{sha}:metrics.json"))
        assert metrics == {"score": int(overrides["lr"]) * int(overrides["epochs"]), "extra": 7}
        assert git(repo, "rev-parse", f"{sha}^") == base
        assert git(repo, "show", f"{sha}:extra.txt") == "7"
        assert git(repo, "show", f"{sha}:params.yaml").startswith(f"lr: {overrides['lr']}  #")
        seen.add((overrides["lr"], overrides["epochs"]))
    assert seen == {(lr, ep) for lr in "123" for ep in "12"}

    after = _status(cli, repo)
    assert after["boom"]["state"] == "failed" and "boom" not in refs
    assert all(after[n]["state"] == "success" and after[n]["commit"] == refs[n] for n in refs)
    log = cli(repo, "queue", "logs", "boom")
    assert log.code == 0 and "boom: fail was 1" in log.out
    # The workspace was never touched by the queue.
    assert (repo / "params.yaml").read_text() == params_before
    assert not (repo / "metrics.json").exists()
    assert git(repo, "status", "--porcelain") == "?? extra.txt"

    # Every child reported to the same (harness) API: one flow run per experiment.
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=sorted(status)))
        )
    states = {r.name: r.state_type.value for r in runs}
    assert {n for n in states} == set(status)
    assert all(states[n] == "COMPLETED" for n in refs)

    shown = json.loads(cli(repo, "exp", "show", "--json").out)
    # NOTE: the failed entry is listed too, as DVC lists its failed queue runs
    assert {e["name"] for e in shown[1]["experiments"]} == set(refs) | {"boom"}
    states = {e["name"]: (e["executor"] or {}).get("state") for e in shown[1]["experiments"]}
    assert states == {**dict.fromkeys(refs), "boom": "failed"}
    hidden = json.loads(cli(repo, "exp", "show", "--json", "--hide-failed").out)
    assert {e["name"] for e in hidden[1]["experiments"]} == set(refs)


def test_queue_validates_entries_and_remove_and_errors_change_nothing(repo: Path, cli) -> None:
    unknown = cli(repo, "exp", "run", "--queue", "-S", "lr=1,2", "-S", "nope=3")
    assert unknown.code == 1 and "ERROR: params.yaml" in unknown.err and "+nope" in unknown.err
    assert _status(cli, repo) == {}

    assert cli(repo, "exp", "run", "--queue", "-n", "one", "-S", "lr=5").code == 0
    again = cli(repo, "exp", "run", "--queue", "-n", "one", "-S", "lr=6")
    assert again.code == 1 and "'one' is already queued" in again.err
    assert cli(repo, "exp", "run", "--queue", "-n", "grid", "-S", "lr=2,3").code == 0
    assert set(_status(cli, repo)) == {"one", "grid-1", "grid-2"}

    missing = cli(repo, "queue", "remove", "nope")
    assert missing.code == 1 and "nope" in missing.err
    assert set(_status(cli, repo)) == {"one", "grid-1", "grid-2"}
    assert cli(repo, "queue", "remove", "grid-1").code == 0
    assert set(_status(cli, repo)) == {"one", "grid-2"}
    cleared = cli(repo, "exp", "remove", "--queue")
    assert cleared.code == 0 and _status(cli, repo) == {}
    empty = cli(repo, "queue", "start")
    assert empty.code == 0 and "The queue is empty." in empty.out
    assert _refs(repo) == {}
    assert git(repo, "status", "--porcelain") == "?? extra.txt"
