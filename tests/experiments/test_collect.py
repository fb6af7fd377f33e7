"""Collecting exp show rows from real repos whose experiments are made with git plumbing.

Also holds the small builders ``test_show``/``test_diff`` import: ``make_base`` and
``commit_exp`` create the same commits our write side does (``commit-tree`` +
``update-ref refs/exps/...``).
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
from helpers import gen, git

from prefect_dvc.errors import ExperimentNotFoundError, GitError
from prefect_dvc.experiments.collect import (
    FileData,
    ShowFiles,
    collect_experiments,
    deps_and_outs,
    parse_file,
)
from prefect_dvc.experiments.gitbatch import GitBatch, list_refs, log_commits

DVC_YAML = """\
stages:
  prep:
    cmd: echo prep
    wdir: sub
    deps:
    - data.txt
    params:
    - ../other.yaml:
      - opt
  train:
    cmd: python train.py
    deps:
    - train.py
    params:
    - train.lr
    outs:
    - model
    metrics:
    - metrics.json:
        cache: false
"""

LOCK = """\
schema: '2.0'
stages:
  prep:
    cmd: echo prep
    deps:
    - path: data.txt
      hash: md5
      md5: 401b30e3b8b5d629635a5c613cdb7919
      size: 2
  train:
    cmd: python train.py
    deps:
    - path: train.py
      hash: md5
      md5: 9e1cad12ee7258f16167c533dae6ba18
      size: 9
    outs:
    - path: metrics.json
      hash: md5
      md5: 94b0607fb84b5828db2112a73a897a35
      size: 12
    - path: model
      hash: md5
      md5: 5d5c3a10597e0223601554c58e79076f.dir
      size: 3
      nfiles: 1
"""

BASE_DATE = "2025-01-01T09:00:00+0000"


def params(lr: float) -> str:
    return f"seed: 1\ntrain:\n  lr: {lr}\n  epochs: 3\n"


def make_base(root: Path) -> str:
    """Commit a small DVC project on ``main`` at a fixed date; return its SHA."""
    gen(
        root,
        {
            "dvc.yaml": DVC_YAML,
            "dvc.lock": LOCK,
            "params.yaml": params(0.1),
            "other.yaml": "opt:\n  lr: 0.5\n",
            "metrics.json": '{"acc": 0.5, "loss": 0.9}',
            "train.py": "print(1)\n",
            "sub/data.txt": "x\n",
        },
    )
    git(root, "add", "-A")
    env = {**os.environ, "GIT_AUTHOR_DATE": BASE_DATE, "GIT_COMMITTER_DATE": BASE_DATE}
    subprocess.run(["git", "commit", "-qm", "base"], cwd=root, check=True, env=env)
    return git(root, "rev-parse", "HEAD")


def commit_exp(
    root: Path,
    baseline: str,
    name: str,
    files: dict[str, str],
    *,
    date: str,
    parent: str | None = None,
) -> str:
    """Commit ``files`` on top of ``parent`` (default: the baseline) and point the exp ref at it."""
    parent = parent or baseline
    env = {
        **os.environ,
        "GIT_INDEX_FILE": str(root / ".git" / "exp-index"),
        "GIT_AUTHOR_DATE": date,
        "GIT_COMMITTER_DATE": date,
    }

    def run(*args: str, stdin: str | None = None) -> str:
        proc = subprocess.run(
            ["git", *args], cwd=root, env=env, input=stdin, capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    run("read-tree", parent)
    for rel, text in files.items():
        blob = run("hash-object", "-w", "--stdin", stdin=text)
        run("update-index", "--add", "--cacheinfo", f"100644,{blob},{rel}")
    tree = run("write-tree")
    sha = run("commit-tree", tree, "-p", parent, "-m", f"dvc: commit experiment {name}")
    run("update-ref", f"refs/exps/{baseline[:2]}/{baseline[2:]}/{name}", sha)
    (root / ".git" / "exp-index").unlink()
    return sha


def local_iso(date: str) -> str:
    """The naive local ISO timestamp DVC shows for a commit dated ``date``."""
    return datetime.fromtimestamp(datetime.fromisoformat(date).timestamp()).isoformat()


@pytest.fixture
def exp_repo(git_repo: Path) -> tuple[Path, str, dict[str, str]]:
    """A base commit with three experiments (one a 3-commit checkpoint chain)."""
    base = make_base(git_repo)
    shas = {
        "e1": commit_exp(
            git_repo,
            base,
            "e1",
            {"params.yaml": params(0.2), "metrics.json": '{"acc": 0.7, "loss": 0.8}'},
            date="2025-01-02T10:00:00+0000",
        ),
        "e2": commit_exp(
            git_repo,
            base,
            "e2",
            {"params.yaml": params(0.3), "metrics.json": '{"acc": 0.6, "extra": 1}'},
            date="2025-01-03T10:00:00+0000",
        ),
    }
    tip = None
    for step, acc in enumerate((0.1, 0.2, 0.3)):
        tip = commit_exp(
            git_repo,
            base,
            "ck",
            {"metrics.json": json.dumps({"acc": acc})},
            date=f"2025-01-0{4 + step}T10:00:00+0000",
            parent=tip,
        )
        shas[f"ck{step}"] = tip
    # NOTE: DVC leaves these behind; they must never be listed as experiments.
    git(git_repo, "update-ref", "refs/exps/exec/EXEC_HEAD", base)
    git(git_repo, "update-ref", "refs/exps/apply/ORIG_HEAD", base)
    git(git_repo, "update-ref", "refs/exps/celery/stash", base)
    return git_repo, base, shas


def test_rows_order_types_and_values(exp_repo: tuple[Path, str, dict[str, str]]) -> None:
    root, base, shas = exp_repo
    rows = collect_experiments(root, ShowFiles.from_dvcyaml(root))
    assert [(r.rev, r.name, r.typ, r.parent) for r in rows] == [
        ("workspace", None, "baseline", None),
        (base, "main", "baseline", None),
        (shas["ck2"], "ck", "branch_commit", base),
        (shas["e2"], "e2", "branch_commit", base),
        (shas["e1"], "e1", "branch_base", base),
    ]
    assert [d.rev for d in rows[2].revs] == [shas["ck2"], shas["ck1"], shas["ck0"]]
    assert [d.metrics["metrics.json"].data for d in rows[2].revs] == [
        {"acc": 0.3},
        {"acc": 0.2},
        {"acc": 0.1},
    ]
    e1 = rows[4].data
    assert e1.timestamp is not None
    assert e1.timestamp.isoformat() == local_iso("2025-01-02T10:00:00+0000")
    assert rows[0].data.timestamp is None
    assert e1.params["params.yaml"].flat == {"seed": 1, "train.lr": 0.2, "train.epochs": 3}
    assert list(e1.params) == ["other.yaml", "params.yaml"]
    assert rows[3].data.metrics["metrics.json"].flat == {"acc": 0.6, "extra": 1}


def test_deps_and_outs_come_from_each_commits_lock(
    exp_repo: tuple[Path, str, dict[str, str]],
) -> None:
    root, _, _ = exp_repo
    data = collect_experiments(root, ShowFiles.from_dvcyaml(root))[1].data
    assert data.deps == {
        "sub/data.txt": {"hash": "401b30e3b8b5d629635a5c613cdb7919", "size": 2, "nfiles": None},
        "train.py": {"hash": "9e1cad12ee7258f16167c533dae6ba18", "size": 9, "nfiles": None},
    }
    # metrics.json is a metric, so not an out; model keeps its .dir hash and nfiles
    assert data.outs == {
        "model": {
            "hash": "5d5c3a10597e0223601554c58e79076f.dir",
            "size": 3,
            "nfiles": 1,
            "use_cache": True,
            "is_data_source": False,
        }
    }


def test_deps_without_lock_have_no_hash() -> None:
    deps, outs = deps_and_outs(DVC_YAML.encode(), None, ["metrics.json"])
    assert deps["train.py"] == {"hash": None, "size": None, "nfiles": None}
    assert outs["model"]["hash"] is None


def test_unparsable_and_missing_files_become_error_cells(git_repo: Path) -> None:
    base = make_base(git_repo)
    bad = commit_exp(
        git_repo,
        base,
        "bad",
        {"metrics.json": '{"acc": 0.2', "other.yaml": "opt: [1\n"},
        date="2025-01-02T10:00:00+0000",
    )
    git(git_repo, "rm", "-q", "--cached", "params.yaml")
    (git_repo / "params.yaml").unlink()
    files = ShowFiles(params=("other.yaml", "params.yaml"), metrics=("metrics.json", "gone.json"))
    rows = collect_experiments(git_repo, files)
    exp = rows[2].data
    assert exp.rev == bad
    assert exp.metrics["metrics.json"].error is not None
    assert exp.metrics["metrics.json"].error.to_dict() == {
        "type": "JSONFileCorruptedError",
        "msg": "unable to read: 'metrics.json', JSON file structure is corrupted",
    }
    assert exp.params["other.yaml"].error is not None
    assert exp.params["other.yaml"].error.type == "YAMLFileCorruptedError"
    assert exp.params["params.yaml"].flat == {"seed": 1, "train.lr": 0.1, "train.epochs": 3}
    assert exp.metrics["gone.json"].error is not None
    assert exp.metrics["gone.json"].error.type == "FileNotFoundError"
    workspace = rows[0].data
    assert workspace.params["params.yaml"].error is not None
    assert workspace.params["other.yaml"].flat == {"opt.lr": 0.5}


def test_optional_params_yaml_is_skipped_where_missing(git_repo: Path) -> None:
    files = ShowFiles(params=("params.yaml",), optional=("params.yaml",))
    data = collect_experiments(git_repo, files)[1].data
    assert data.params == {}


def test_parse_file_by_suffix_and_metric_filter() -> None:
    toml = parse_file("p.toml", b"[train]\nlr = 0.1\n", "params")
    assert toml.flat == {"train.lr": 0.1}
    yml = parse_file("p.yaml", b"a: yes\nb: 1e3\nc: 010\n", "params")
    assert yml.data == {"a": "yes", "b": 1000.0, "c": 10}  # YAML 1.2, as DVC reads it
    metrics = parse_file(
        "m.json", b'{"a": [1], "b": null, "c": {}, "d": {"e": 2}, "s": "x"}', "metrics"
    )
    assert metrics.data == {"d": {"e": 2}, "s": "x"}
    assert parse_file("p.json", b"[1]", "params").error is not None
    assert FileData({"a": {"b": {"c": 1}}, "d": [1]}).flat == {"a.b.c": 1, "d": [1]}


def test_baselines_num_names_and_all_commits(exp_repo: tuple[Path, str, dict[str, str]]) -> None:
    root, base, shas = exp_repo
    git(root, "tag", "v1")
    git(root, "branch", "other")
    gen(root, {"z.txt": "z"})
    git(root, "add", "z.txt")
    git(root, "commit", "-qm", "second")
    head = git(root, "rev-parse", "HEAD")
    files = ShowFiles.from_dvcyaml(root)
    rows = collect_experiments(root, files, num=2)
    assert [(r.rev, r.name) for r in rows if r.typ == "baseline"] == [
        ("workspace", None),
        (head, "main"),
        (base, "v1"),  # a tag wins over a branch that is not checked out
    ]
    assert len(rows) == 6
    everything = collect_experiments(root, files, all_commits=True)
    baselines = [r.rev for r in everything if r.typ == "baseline"]
    assert head in baselines and base in baselines
    assert not {shas["e1"], shas["ck0"]} & set(baselines)


def test_unknown_revision_names_it(git_repo: Path) -> None:
    with pytest.raises(ExperimentNotFoundError, match="unknown revision 'nope'.*branch, tag"):
        collect_experiments(git_repo, ShowFiles(), revs=("nope",))
    with pytest.raises(ExperimentNotFoundError, match="'--all'"):
        collect_experiments(git_repo, ShowFiles(), revs=("--all",))


def test_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(GitError, match="for-each-ref"):
        collect_experiments(tmp_path, ShowFiles())


def test_gitbatch_reads_many_and_reports_missing(git_repo: Path) -> None:
    base = make_base(git_repo)
    with GitBatch(git_repo) as batch:
        blobs = batch.read_many([f"{base}:train.py", f"{base}:nope", "HEAD:sub", "bad^{commit}"])
        proc = batch._proc
    assert blobs[0] is not None and blobs[0].content == b"print(1)\n"
    assert blobs[1] is None and blobs[3] is None
    assert blobs[2] is not None and blobs[2].kind == "tree"
    assert proc.returncode == 0
    refs = list_refs(git_repo, ["refs/heads"])
    assert [(r.ref, r.commit, r.is_head) for r in refs] == [("refs/heads/main", base, True)]
    infos = log_commits(git_repo, [base], no_walk=True)
    assert infos[0].sha == base and len(infos[0].parents) == 1


def test_show_files_from_dvcyaml(git_repo: Path) -> None:
    make_base(git_repo)
    gen(
        git_repo,
        {
            "dvc.yaml": DVC_YAML + "params:\n- top.json\nmetrics:\n- extra.json\n",
            "params.yaml": "seed: 1\n",
        },
    )
    files = ShowFiles.from_dvcyaml(git_repo)
    assert files == ShowFiles(
        params=("other.yaml", "params.yaml", "top.json"),
        metrics=("metrics.json", "extra.json"),
        optional=(),
    )
    (git_repo / "dvc.yaml").write_text("stages: {}\n")
    assert ShowFiles.from_dvcyaml(git_repo) == ShowFiles(
        params=("params.yaml",), optional=("params.yaml",)
    )
