"""Experiments end to end through the real ``prefect-dvc`` command.

The example project gets two ``exp run -S`` variations once per module (they
are the expensive part); the tests then read the refs, commits, trees, the
``exp show`` forms, the Prefect artifact and real DVC's view of them. Sharing
refs between clones uses a bare repository in ``tmp_path`` as the Git remote
and a local folder as the DVC remote, with a tiny pipeline.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from helpers import gen, git, run_dvc

from prefect_dvc.experiments.summary import comparison_rows
from prefect_dvc.lockfile import read_lock
from prefect_dvc.tasks.artifacts import artifact_key

pytestmark = pytest.mark.prefect

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "get-started"
CLI = str(Path(sys.executable).with_name("prefect-dvc"))


@dataclass(frozen=True)
class Out:
    code: int
    out: str
    err: str


def run_cli(
    repo: Path, env: dict[str, str], *args: str, extra: dict[str, str] | None = None
) -> Out:
    """``prefect-dvc args`` in ``repo`` as a child process (module fixtures cannot use ``cli``)."""
    proc = subprocess.run(
        [CLI, *args],
        cwd=repo,
        capture_output=True,
        text=True,
        env={**env, **(extra or {})},
        timeout=600,
    )
    return Out(proc.returncode, proc.stdout, proc.stderr)


@dataclass(frozen=True)
class TwoRuns:
    root: Path
    env: dict[str, str]
    baseline: str
    index_before: str
    names: tuple[str, str]
    outputs: tuple[Out, Out]

    def cli(self, *args: str, extra: dict[str, str] | None = None) -> Out:
        return run_cli(self.root, self.env, *args, extra=extra)

    def ref(self, name: str) -> str:
        return f"refs/exps/{self.baseline[:2]}/{self.baseline[2:]}/{name}"


def _identity_env(home: Path, prefect_env: dict[str, str]) -> dict[str, str]:
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n")
    ident = {
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Test User",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test User",
        "GIT_COMMITTER_EMAIL": "test@example.com",
    }
    return {**prefect_env, **ident}


@pytest.fixture(scope="module")
def two_runs(
    tmp_path_factory: pytest.TempPathFactory, prefect_env: dict[str, str]
) -> Iterator[TwoRuns]:
    """The example, committed, with a user edit and a staged file, after two experiments."""
    env = _identity_env(tmp_path_factory.mktemp("home"), prefect_env)
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        root = tmp_path_factory.mktemp("exps") / "repo"
        shutil.copytree(EXAMPLE, root)
        gen(root, {".dvc/config": "", ".dvc/.gitignore": "/config.local\n/tmp\n/cache\n"})
        gen(root, {"notes.txt": "notes\n"})
        git(root, "init", "-q", "-b", "main")
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "example")
        with (root / "notes.txt").open("a") as fh:
            fh.write("an uncommitted edit of mine\n")
        gen(root, {"staged.txt": "staged, not committed\n"})
        git(root, "add", "staged.txt")
        index_before = git(root, "ls-files", "-s")
        first = run_cli(root, env, "exp", "run", "-S", "train.lr=0.1", "-n", "lr-high", "-j", "2")
        assert first.code == 0, first.err
        second = run_cli(
            root,
            env,
            "exp",
            "run",
            "-S",
            "train.epochs=5",
            "-S",
            "config/evaluate.yaml:evaluate.threshold=0.6",
        )
        assert second.code == 0, second.err
        generated = next(
            line.split("'")[1] for line in second.out.splitlines() if "Ran experiment" in line
        )
        yield TwoRuns(
            root=root,
            env=env,
            baseline=git(root, "rev-parse", "HEAD"),
            index_before=index_before,
            names=("lr-high", generated),
            outputs=(first, second),
        )


def _tree_files(root: Path, rev: str) -> set[str]:
    return set(git(root, "ls-tree", "-r", "--name-only", rev).splitlines())


def _show_yaml(root: Path, rev: str, path: str) -> dict:
    return yaml.safe_load(git(root, "show", f"{rev}:{path}"))


def test_runs_commit_refs_on_the_baseline_and_leave_head_branch_index_and_edits(
    two_runs: TwoRuns,
) -> None:
    root, base = two_runs.root, two_runs.baseline
    first, second = two_runs.names
    assert first == "lr-high"
    assert len(second.split("-")) == 2, second  # DVC-style <adjective>-<noun>
    refs = git(root, "for-each-ref", "--format=%(refname)", "refs/exps").splitlines()
    assert sorted(refs) == sorted([two_runs.ref(first), two_runs.ref(second)])
    for name in two_runs.names:
        sha = git(root, "rev-parse", two_runs.ref(name))
        assert git(root, "rev-list", "--parents", "-n", "1", sha).split() == [sha, base]
        message = git(root, "log", "-1", "--format=%B", sha)
        assert message.startswith("dvc: commit experiment ") and len(message.split()[-1]) == 64
        files = _tree_files(root, sha)
        assert not any(f.startswith(".dvc/tmp") for f in files)
        changed = set(git(root, "diff", "--name-only", base, sha).splitlines())
        assert {"params.yaml", "dvc.lock", "eval/metrics.json", "eval/plots/roc.csv"} <= changed
        assert {"notes.txt", "staged.txt", "models/.gitignore"} <= changed
        # DVC-cached outs are in the cache, not in Git.
        assert not any(
            f.startswith(("models/", "data/prepared")) and "gitignore" not in f for f in files
        )

    high, other = (git(root, "rev-parse", two_runs.ref(n)) for n in two_runs.names)
    assert _show_yaml(root, high, "params.yaml")["train"] == {
        "lr": 0.1,
        "epochs": 10,
        "l2": 0.001,
        "seed": 7,
    }
    # The workspace keeps the results, so the second run starts from the first's params.
    assert _show_yaml(root, other, "params.yaml")["train"]["lr"] == 0.1
    assert _show_yaml(root, other, "params.yaml")["train"]["epochs"] == 5
    assert _show_yaml(root, other, "config/evaluate.yaml")["evaluate"]["threshold"] == 0.6
    # -S keeps the params file's comments and order (round trip).
    text = (root / "params.yaml").read_text()
    assert "# order of samples in SGD" in text and "epochs: 5" in text
    assert text.index("prepare:") < text.index("train:")
    # The workspace holds the last experiment's files.
    committed = subprocess.run(
        ["git", "show", f"{other}:eval/metrics.json"], cwd=root, capture_output=True, check=True
    ).stdout
    assert (root / "eval" / "metrics.json").read_bytes() == committed
    # HEAD, branch, index, stash and the user's edit are untouched.
    assert git(root, "rev-parse", "HEAD") == base
    assert git(root, "symbolic-ref", "HEAD") == "refs/heads/main"
    assert git(root, "ls-files", "-s") == two_runs.index_before
    assert git(root, "stash", "list") == ""
    assert (root / "notes.txt").read_text().endswith("an uncommitted edit of mine\n")
    assert "Experiment results have been applied to your workspace." in two_runs.outputs[0].out
    assert two_runs.ref("lr-high") in two_runs.outputs[0].out


def _exp_params_metrics(items: list[dict]) -> dict[str, tuple[dict, dict]]:
    """name -> (params, metrics) of every experiment in ``exp show --json`` output."""
    found = {}
    for baseline in items[1:]:
        for exp in baseline.get("experiments") or []:
            data = exp["revs"][0]["data"]
            found[exp["name"]] = (
                {f: v["data"] for f, v in data["params"].items()},
                {f: v["data"] for f, v in data["metrics"].items()},
            )
    return found


def test_exp_show_json_has_each_experiments_params_and_metrics(two_runs: TwoRuns) -> None:
    root = two_runs.root
    shown = two_runs.cli("exp", "show", "--json")
    assert shown.code == 0, shown.err
    items = json.loads(shown.out)
    assert items[0]["rev"] == "workspace"
    assert items[1]["rev"] == two_runs.baseline and items[1]["name"] == "main"
    found = _exp_params_metrics(items)
    assert set(found) == set(two_runs.names)
    for name in two_runs.names:
        sha = git(root, "rev-parse", two_runs.ref(name))
        params, metrics = found[name]
        assert params["params.yaml"] == _show_yaml(root, sha, "params.yaml")
        assert params["config/evaluate.yaml"] == _show_yaml(root, sha, "config/evaluate.yaml")
        assert metrics["eval/metrics.json"] == json.loads(
            git(root, "show", f"{sha}:eval/metrics.json")
        )
    assert found["lr-high"][0]["params.yaml"]["train"]["lr"] == 0.1
    assert found[two_runs.names[1]][0]["params.yaml"]["train"]["epochs"] == 5


def test_exp_show_table_fits_80_columns_and_is_complete_in_a_pipe(two_runs: TwoRuns) -> None:
    narrow = two_runs.cli("exp", "show", extra={"COLUMNS": "80"})
    assert narrow.code == 0, narrow.err
    lines = narrow.out.splitlines()
    assert all(len(line) <= 80 for line in lines), lines
    for name in two_runs.names:
        row = next(line for line in lines if f"[{name}]" in line)
        assert "…" not in row
    assert "columns hidden to fit 80 columns" in narrow.err
    header = "\n".join(lines[:4])
    assert "accuracy" in header and "lr" in header

    piped = two_runs.cli("exp", "show")
    assert piped.code == 0
    assert "src/train.py" in piped.out and "models.svm-quadratic.loss" in piped.out
    assert "…" not in piped.out and "hidden" not in piped.err

    csv_out = two_runs.cli("exp", "show", "--csv", "--sort-by", "train.epochs", "--keep", "train")
    head, *rows = csv_out.out.splitlines()
    assert "train.lr" in head.split(",")
    names = [r.split(",")[0] for r in rows if r.split(",")[0]]
    assert names == [two_runs.names[1], "lr-high"]  # epochs 5 before 10
    changed = two_runs.cli("exp", "show", "--csv", "--only-changed", "--drop", "src/")
    cols = changed.out.splitlines()[0].split(",")
    assert "train.lr" in cols and "train.l2" not in cols and "src/train.py" not in cols


def test_each_run_publishes_a_summary_table_artifact(two_runs: TwoRuns, prefect_api: None) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    name = "lr-high"
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[artifact_key("exp", name)]))
        )
    assert len(found) == 1 and found[0].type == "table"
    rows = found[0].data if isinstance(found[0].data, list) else json.loads(found[0].data)
    by_key = {(r["kind"], r["key"]): r for r in rows}
    lr = by_key[("param", "train.lr")]
    assert (lr["baseline"], lr["experiment"], lr["change"]) == ("0.05", "0.1", "0.05")
    assert by_key[("param", "train.epochs")]["change"] == "0"
    sha = git(two_runs.root, "rev-parse", two_runs.ref(name))
    metrics = json.loads(git(two_runs.root, "show", f"{sha}:eval/metrics.json"))
    acc = by_key[("metric", "best.accuracy")]
    assert acc["experiment"] == f"{metrics['best']['accuracy']:.5g}" and acc["baseline"] == ""
    # The same rows the library computes for that commit against its baseline.
    assert [r["key"] for r in comparison_rows(two_runs.root, two_runs.baseline, sha)] == [
        r["key"] for r in rows
    ]


@pytest.mark.dvc_interop
def test_real_dvc_lists_both_experiments_with_our_params_and_metrics(two_runs: TwoRuns) -> None:
    theirs = run_dvc(two_runs.root, "exp", "show", "--json")
    assert theirs.returncode == 0, theirs.stderr
    ours = two_runs.cli("exp", "show", "--json")
    dvc_found = _exp_params_metrics(json.loads(theirs.stdout))
    assert set(dvc_found) == set(two_runs.names)
    assert dvc_found == _exp_params_metrics(json.loads(ours.out))


def _state(root: Path) -> tuple[str, ...]:
    """Everything a bad command must leave alone: refs, HEAD, index, workspace files."""
    files = sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and ".git" not in p.parts and ".dvc" not in p.parts
    )
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return (
        git(root, "for-each-ref"),
        git(root, "rev-parse", "HEAD"),
        git(root, "symbolic-ref", "HEAD"),
        git(root, "ls-files", "-s"),
        digest.hexdigest(),
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ("exp", "run", "-n", "lr-high", "-S", "train.lr=0.3"),
            "experiment 'lr-high' already exists",
        ),
        (("exp", "run", "-S", "train.nope=1"), "+train.nope"),
        (("exp", "run", "-S", "nofile.yaml:x=1"), "nofile.yaml"),
        (("exp", "apply", "nope"), "experiment 'nope' not found"),
        (("exp", "remove", "nope"), "experiment 'nope' not found"),
        (("exp", "branch", "lr-high", "main"), "branch 'main' already exists"),
        (("exp", "diff", "lr-high", "nope"), "nope"),
        (("exp", "run", "-n", "bad/name"), "bad/name"),
    ],
)
def test_bad_input_is_one_clear_line_and_changes_nothing(
    two_runs: TwoRuns, args: tuple[str, ...], expected: str
) -> None:
    before = _state(two_runs.root)
    result = two_runs.cli(*args)
    assert result.code != 0
    errors = [line for line in result.err.splitlines() if line.startswith("ERROR: ")]
    assert len(errors) == 1 and expected in errors[0], result.err
    assert "Traceback" not in result.err
    assert _state(two_runs.root) == before


def test_apply_refuses_to_lose_a_user_edit_then_applies_files_and_cached_outs(
    two_runs: TwoRuns,
) -> None:
    root = two_runs.root
    params = root / "params.yaml"
    saved = params.read_text()
    params.write_text(saved.replace("lr: 0.1", "lr: 0.9"))
    before = _state(root)
    refused = two_runs.cli("exp", "apply", "lr-high")
    assert refused.code == 1 and "params.yaml" in refused.err and "-f" in refused.err
    assert _state(root) == before
    params.write_text(saved)

    # The workspace holds the second experiment's results: saved in its ref, so not lost.
    shutil.rmtree(root / "models")
    applied = two_runs.cli("exp", "apply", "lr-high")
    assert applied.code == 0, applied.err
    sha = git(root, "rev-parse", two_runs.ref("lr-high"))
    assert (root / "params.yaml").read_text() == git(root, "show", f"{sha}:params.yaml") + "\n"
    assert json.loads((root / "eval/metrics.json").read_text()) == json.loads(
        git(root, "show", f"{sha}:eval/metrics.json")
    )
    lock = read_lock(root / "dvc.lock")
    for stage, entry in lock.items():
        for out in entry.get("outs", []):
            path = root / (str(Path("eval") / out["path"]) if stage == "evaluate" else out["path"])
            if path.is_file():
                assert hashlib.md5(path.read_bytes()).hexdigest() == out["md5"], path
    assert (root / "models" / "svm-linear.json").is_file()
    assert git(root, "rev-parse", "HEAD") == two_runs.baseline
    assert git(root, "ls-files", "-s") == two_runs.index_before

    branched = two_runs.cli("exp", "branch", "lr-high", "lr-branch")
    assert branched.code == 0 and "'lr-branch'" in branched.out
    assert git(root, "rev-parse", "refs/heads/lr-branch") == sha
    assert git(root, "symbolic-ref", "HEAD") == "refs/heads/main"

    listed = json.loads(two_runs.cli("exp", "list", "--json").out)
    assert sorted(listed[two_runs.baseline]) == sorted(two_runs.names)


TINY = {
    "params.yaml": "lr: 1  # learning rate\n",
    "dvc.yaml": """\
stages:
  train:
    cmd: >-
      printf 'model %s' ${lr} > model.txt &&
      echo '{"score": '$((${lr} * 10))'}' > metrics.json
    params: [lr]
    outs: [model.txt]
    metrics:
      - metrics.json:
          cache: false
""",
}


def test_push_pull_apply_remove_between_two_clones(tmp_path: Path, cli) -> None:
    bare = tmp_path / "origin.git"
    store = tmp_path / "dvc-store"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    a = tmp_path / "a"
    a.mkdir()
    git(a, "init", "-q", "-b", "main")
    gen(a, {**TINY, ".dvc/.gitignore": "/config.local\n/tmp\n/cache\n"})
    gen(
        a, {".dvc/config": f"[core]\n    remote = store\n['remote \"store\"']\n    url = {store}\n"}
    )
    git(a, "add", "-A")
    git(a, "commit", "-q", "-m", "tiny")
    git(a, "remote", "add", "origin", str(bare))
    git(a, "push", "-q", "origin", "main")
    ran = cli(a, "exp", "run", "-n", "lr2", "-S", "lr=2")
    assert ran.code == 0, ran.err
    base = git(a, "rev-parse", "HEAD")
    ref = f"refs/exps/{base[:2]}/{base[2:]}/lr2"
    sha = git(a, "rev-parse", ref)
    model_md5 = hashlib.md5(b"model 2").hexdigest()

    pushed = cli(a, "exp", "push", "origin", "lr2")
    assert pushed.code == 0, pushed.err
    assert git(bare, "rev-parse", ref) == sha
    assert (store / "files" / "md5" / model_md5[:2] / model_md5[2:]).is_file()

    b = tmp_path / "b"
    git(tmp_path, "clone", "-q", str(bare), str(b))
    assert cli(b, "exp", "list").out.strip() == ""
    pulled = cli(b, "exp", "pull", "origin", "lr2")
    assert pulled.code == 0, pulled.err
    assert git(b, "rev-parse", ref) == sha
    assert (b / ".dvc" / "cache" / "files" / "md5" / model_md5[:2] / model_md5[2:]).is_file()
    applied = cli(b, "exp", "apply", "lr2")
    assert applied.code == 0, applied.err
    assert (b / "model.txt").read_text() == "model 2"
    assert json.loads((b / "metrics.json").read_text()) == {"score": 20}
    assert "lr: 2  # learning rate" in (b / "params.yaml").read_text()

    missing = cli(b, "exp", "pull", "origin", "nope")
    assert missing.code == 1 and "nope" in missing.err

    removed = cli(b, "exp", "remove", "-g", "origin", "lr2")
    assert removed.code == 0, removed.err
    assert subprocess.run(["git", "rev-parse", "--verify", "-q", ref], cwd=bare).returncode != 0
    assert git(b, "rev-parse", ref) == sha  # -g removes on the remote only
    assert cli(b, "exp", "remove", "lr2").code == 0
    assert git(b, "for-each-ref", "refs/exps") == ""
    assert cli(a, "exp", "remove", "-A").code == 0
    assert git(a, "for-each-ref", "refs/exps") == ""
