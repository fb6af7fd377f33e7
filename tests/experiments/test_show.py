"""exp show output: exact JSON and CSV, column naming, sorting, selection; and DVC interop."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import dvc_bin, gen, git
from rich.console import Console
from test_collect import commit_exp, local_iso, make_base, params

from prefect_dvc.errors import ConfigError
from prefect_dvc.experiments.collect import ShowFiles, collect_experiments
from prefect_dvc.experiments.diff import exp_diff, metrics_diff
from prefect_dvc.experiments.show import (
    ShowOptions,
    to_csv,
    to_json,
    to_markdown,
    to_table,
)

D1, D2, D3 = "2025-01-02T10:00:00+0000", "2025-01-03T10:00:00+0000", "2025-01-04T10:00:00+0000"


@pytest.fixture
def repo(git_repo: Path) -> tuple[Path, str, dict[str, str]]:
    base = make_base(git_repo)
    gen(git_repo, {"extra.json": '{"acc": 1}', "dvc.yaml": (git_repo / "dvc.yaml").read_text()})
    shas = {
        "a": commit_exp(
            git_repo,
            base,
            "a",
            {"params.yaml": params(0.2), "metrics.json": '{"acc": 0.5, "loss": 0.123456789}'},
            date=D1,
        ),
        "b": commit_exp(
            git_repo,
            base,
            "b",
            {"params.yaml": params(0.3), "metrics.json": '{"acc": 0.9, "loss": 0.25}'},
            date=D2,
        ),
        "none": commit_exp(
            git_repo,
            base,
            "none",
            {"params.yaml": params(0.4), "metrics.json": '{"loss": 0.5}'},
            date=D3,
        ),
    }
    return git_repo, base, shas


def rows_of(root: Path, metrics: tuple[str, ...] = ("metrics.json",)):  # type: ignore[no-untyped-def]
    return collect_experiments(root, ShowFiles(params=("params.yaml",), metrics=metrics))


def test_to_json_exact(repo: tuple[Path, str, dict[str, str]]) -> None:
    root, base, shas = repo
    out = to_json(rows_of(root))
    assert [item["rev"] for item in out] == ["workspace", base]
    assert out[0]["name"] is None and out[0]["experiments"] is None
    assert out[0]["data"]["timestamp"] is None
    exp = out[1]["experiments"][2]
    assert exp == {
        "revs": [
            {
                "rev": shas["a"],
                "name": "a",
                "data": {
                    "rev": shas["a"],
                    "timestamp": local_iso(D1),
                    "params": {
                        "params.yaml": {"data": {"seed": 1, "train": {"lr": 0.2, "epochs": 3}}}
                    },
                    "metrics": {"metrics.json": {"data": {"acc": 0.5, "loss": 0.123456789}}},
                    "deps": {
                        "sub/data.txt": {
                            "hash": "401b30e3b8b5d629635a5c613cdb7919",
                            "size": 2,
                            "nfiles": None,
                        },
                        "train.py": {
                            "hash": "9e1cad12ee7258f16167c533dae6ba18",
                            "size": 9,
                            "nfiles": None,
                        },
                    },
                    "outs": {
                        "model": {
                            "hash": "5d5c3a10597e0223601554c58e79076f.dir",
                            "size": 3,
                            "nfiles": 1,
                            "use_cache": True,
                            "is_data_source": False,
                        }
                    },
                    "meta": {},
                },
                "error": None,
                "experiments": None,
            }
        ],
        "executor": None,
        "name": "a",
    }
    assert [e["name"] for e in out[1]["experiments"]] == ["none", "b", "a"]
    json.dumps(out)  # plain JSON types only


def test_csv_exact(repo: tuple[Path, str, dict[str, str]]) -> None:
    root, _, shas = repo
    text = to_csv(rows_of(root))
    dep = "401b30e3b8b5d629635a5c613cdb7919,9e1cad12ee7258f16167c533dae6ba18"
    assert text == (
        "Experiment,rev,typ,Created,parent,acc,loss,seed,train.lr,train.epochs,sub/data.txt,train.py\r\n"
        f",workspace,baseline,,,0.5,0.9,1,0.1,3,{dep}\r\n"
        f",main,baseline,{local_iso('2025-01-01T09:00:00+0000')},,0.5,0.9,1,0.1,3,{dep}\r\n"
        f"none,{shas['none'][:7]},branch_commit,{local_iso(D3)},,,0.5,1,0.4,3,{dep}\r\n"
        f"b,{shas['b'][:7]},branch_commit,{local_iso(D2)},,0.9,0.25,1,0.3,3,{dep}\r\n"
        f"a,{shas['a'][:7]},branch_base,{local_iso(D1)},,0.5,0.123456789,1,0.2,3,{dep}\r\n"
    )
    rounded = to_csv(rows_of(root), ShowOptions(precision=3))
    assert ",0.123," in rounded and "0.123456789" not in rounded


def column(text: str, name: str) -> list[str]:
    table = list(csv.reader(io.StringIO(text)))
    index = table[0].index(name)
    return [line[index] for line in table[1:]]


def test_ambiguous_names_get_file_prefix(repo: tuple[Path, str, dict[str, str]]) -> None:
    root, _, _ = repo
    text = to_csv(rows_of(root, ("metrics.json", "extra.json")))
    header = text.splitlines()[0].split(",")
    assert header[5:9] == ["metrics.json:acc", "loss", "extra.json:acc", "seed"]
    # extra.json exists only in the workspace: elsewhere it is an unreadable (missing) file
    assert column(text, "extra.json:acc") == ["1", "!", "!", "!", "!"]


def test_sort_both_orders_missing_value(repo: tuple[Path, str, dict[str, str]]) -> None:
    root, _, _ = repo
    rows = rows_of(root)
    asc = to_csv(rows, ShowOptions(sort_by="acc"))
    assert column(asc, "Experiment") == ["", "", "a", "b", "none"]
    assert column(asc, "typ")[2:] == ["branch_commit", "branch_commit", "branch_base"]
    desc = to_csv(rows, ShowOptions(sort_by="metrics.json:acc", sort_order="desc"))
    assert column(desc, "Experiment") == ["", "", "none", "b", "a"]  # missing first


def test_sort_errors(repo: tuple[Path, str, dict[str, str]]) -> None:
    root, _, _ = repo
    rows = rows_of(root, ("metrics.json", "extra.json"))
    with pytest.raises(ConfigError, match="Unknown sort column 'zzz'.*file:key|Unknown sort"):
        to_csv(rows, ShowOptions(sort_by="zzz"))
    with pytest.raises(
        ConfigError, match="Ambiguous sort column 'acc' matched 'metrics.json:acc, extra.json:acc'"
    ):
        to_csv(rows, ShowOptions(sort_by="acc"))


def test_only_changed_keep_drop(repo: tuple[Path, str, dict[str, str]]) -> None:
    root, _, _ = repo
    rows = rows_of(root)
    changed = to_csv(rows, ShowOptions(only_changed=True)).splitlines()[0]
    assert changed == "Experiment,rev,typ,Created,acc,loss,train.lr"
    kept = to_csv(rows, ShowOptions(drop="train|sub|seed", keep="train.lr")).splitlines()[0]
    assert kept == "Experiment,rev,typ,Created,parent,acc,loss,train.lr"
    # drop matches at the start of the name, as DVC's does
    assert "train.lr" in to_csv(rows, ShowOptions(drop="lr")).splitlines()[0]


def test_markdown_and_table(repo: tuple[Path, str, dict[str, str]]) -> None:
    root, _, shas = repo
    rows = rows_of(root)
    opts = ShowOptions(drop="Created|sub|train.py|seed|train.epochs")
    md = to_markdown(rows, opts)
    assert md.splitlines() == [
        "| Experiment         | acc   | loss    | train.lr   |",
        "|--------------------|-------|---------|------------|",
        "| workspace          | 0.5   | 0.9     | 0.1        |",
        "| main               | 0.5   | 0.9     | 0.1        |",
        f"| ├── {shas['none'][:7]} [none] | -     | 0.5     | 0.4        |",
        f"| ├── {shas['b'][:7]} [b]    | 0.9   | 0.25    | 0.3        |",
        f"| └── {shas['a'][:7]} [a]    | 0.5   | 0.12346 | 0.2        |",
    ]
    console = Console(width=400, record=True, file=io.StringIO())
    console.print(to_table(rows))
    text = console.export_text()
    assert f"└── {shas['a'][:7]} [a]" in text and "Jan 02, 2025" in text
    assert "0.12346" in text and "0.123456789" not in text


def test_unreadable_file_shows_bang(git_repo: Path) -> None:
    base = make_base(git_repo)
    commit_exp(git_repo, base, "bad", {"metrics.json": "{oops"}, date=D1)
    rows = rows_of(git_repo)
    assert column(to_csv(rows), "acc") == ["0.5", "0.5", "!"]
    item = to_json(rows)[1]["experiments"][0]["revs"][0]
    assert item["data"]["metrics"]["metrics.json"]["error"]["type"] == "JSONFileCorruptedError"


# ---------------------------------------------------------------- DVC interop

TRAIN = """\
import json, os
lr = float(open("params.yaml").read().split("lr:")[1].split()[0])
json.dump({"acc": round(0.5 + lr, 4), "loss": round(1 - lr, 4)}, open("metrics.json", "w"))
os.makedirs("model", exist_ok=True)
open("model/w.txt", "w").write(str(lr))
"""


@pytest.fixture(scope="module")
def dvc_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dvc = dvc_bin()
    root = tmp_path_factory.mktemp("dvcrepo")
    home = tmp_path_factory.mktemp("dvchome")
    env = {**os.environ, "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1"}
    env.update(GIT_AUTHOR_NAME="T", GIT_AUTHOR_EMAIL="t@e.com")
    env.update(GIT_COMMITTER_NAME="T", GIT_COMMITTER_EMAIL="t@e.com")
    env["PATH"] = f"{Path(dvc).parent}:{env['PATH']}"

    def run(*args: str) -> None:
        subprocess.run(args, cwd=root, env=env, check=True, capture_output=True)

    run("git", "init", "-q", "-b", "main")
    run(dvc, "init", "-q")
    gen(
        root,
        {
            "train.py": TRAIN,
            "params.yaml": params(0.1),
            "dvc.yaml": "stages:\n  train:\n    cmd: python train.py\n    deps:\n    - train.py\n"
            "    params:\n    - train.lr\n    outs:\n    - model\n    metrics:\n"
            "    - metrics.json:\n        cache: false\n",
        },
    )
    run(dvc, "repro", "-q")
    run("git", "add", "-A")
    run("git", "commit", "-qm", "base")
    run(dvc, "exp", "run", "-q", "-S", "train.lr=0.2", "-n", "lr02")
    run(dvc, "exp", "run", "-q", "-S", "train.lr=0.3", "-n", "lr03")
    return root


def dvc_json(root: Path, *args: str) -> object:
    out = subprocess.run([dvc_bin(), *args, "--json"], cwd=root, check=True, capture_output=True)
    return json.loads(out.stdout)


def without_timestamps(items: list[dict]) -> list[dict]:  # type: ignore[type-arg]
    for item in items:
        revs = [item] + [r for e in item["experiments"] or [] for r in e["revs"]]
        for rev in revs:
            if rev["data"]:
                rev["data"].pop("timestamp")
        for exp in item["experiments"] or []:
            exp.pop("executor")
    return items


@pytest.mark.slow
@pytest.mark.dvc_interop
def test_exp_show_matches_dvc(dvc_repo: Path) -> None:
    ours = to_json(collect_experiments(dvc_repo, ShowFiles.from_dvcyaml(dvc_repo)))
    theirs = dvc_json(dvc_repo, "exp", "show")
    assert isinstance(theirs, list)
    assert without_timestamps(ours) == without_timestamps(theirs)
    assert [e["name"] for e in ours[1]["experiments"]] == ["lr03", "lr02"]
    env = {**os.environ, "PATH": f"{Path(dvc_bin()).parent}:{os.environ['PATH']}"}
    csv_text = subprocess.run(
        [dvc_bin(), "exp", "show", "--csv"], cwd=dvc_repo, env=env, capture_output=True, check=True
    ).stdout.decode()
    assert to_csv(collect_experiments(dvc_repo, ShowFiles.from_dvcyaml(dvc_repo))) == csv_text


@pytest.mark.slow
@pytest.mark.dvc_interop
def test_diffs_match_dvc(dvc_repo: Path) -> None:
    files = ShowFiles.from_dvcyaml(dvc_repo)
    assert exp_diff(dvc_repo, "lr02", "lr03", files=files) == dvc_json(
        dvc_repo, "exp", "diff", "lr02", "lr03"
    )
    assert metrics_diff(dvc_repo, "main", "lr02", files=files, all_keys=True) == dvc_json(
        dvc_repo, "metrics", "diff", "main", "lr02", "--all"
    )
    assert exp_diff(dvc_repo, files=files, all_keys=True) == dvc_json(
        dvc_repo, "exp", "diff", "--all"
    )
    assert shutil.which("git")
    assert git(dvc_repo, "status", "--short") != ""  # DVC left results in the workspace
