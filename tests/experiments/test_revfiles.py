"""Metrics, params and plot data inside a cached out, at every revision, as real DVC reads them.

The twin is DVC's get-started layout: the stage's only out is the folder
``eval/`` and the top-level ``metrics:``/``plots:`` point inside it, so no
commit holds those files; DVC 3.67.1 builds the repository (``repro``,
``exp run``) and gives the expected values.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import free_port, gen, git, run_dvc

from prefect_dvc.experiments.collect import collect_experiments
from prefect_dvc.experiments.diff import exp_diff, metrics_diff, metrics_show, params_diff
from prefect_dvc.experiments.revfiles import ObjectReader, files_under, locked_outs, out_object
from prefect_dvc.experiments.show import to_json
from prefect_dvc.plots import collect_plots, diff_revisions
from prefect_dvc.plots import to_json as plots_json
from prefect_dvc.project import show_files

CLI = str(Path(sys.executable).with_name("prefect-dvc"))

TRAIN = """\
import json, os
import yaml
lr = yaml.safe_load(open("params.yaml"))["train"]["lr"]
os.makedirs("eval/plots/metrics", exist_ok=True)
json.dump({"acc": round(0.5 + lr, 4), "loss": {"val": round(1 - lr, 4)}, "n": 3},
          open("eval/metrics.json", "w"))
open("eval/hp.yaml", "w").write(f"chosen:\\n  lr: {lr}\\n")
json.dump([{"step": i, "acc": round(i * lr, 4)} for i in range(3)],
          open("eval/plots/metrics/acc.json", "w"))
with open("eval/plots/metrics/loss.tsv", "w") as f:
    f.write("step\\tloss\\n" + "".join(f"{i}\\t{1 - i * lr:.3f}\\n" for i in range(3)))
"""

SCORE = """\
import json
json.dump(json.load(open("eval/metrics.json"))["loss"], open("score.json", "w"))
"""

DVC_YAML = """\
stages:
  train:
    cmd: python train.py
    deps: [train.py]
    params: [train.lr]
    outs: [eval]
  score:
    cmd: python score.py && cp eval/plots/metrics/loss.tsv curve.tsv
    deps: [eval, score.py]
    metrics: [score.json]
    plots:
    - curve.tsv:
        x: step
params:
- eval/hp.yaml
metrics:
- eval/metrics.json
plots:
- eval/plots/metrics:
    x: step
"""


def _identity(mp: pytest.MonkeyPatch, home: Path) -> None:
    mp.setenv("HOME", str(home))
    mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for who in ("AUTHOR", "COMMITTER"):
        mp.setenv(f"GIT_{who}_NAME", "Test User")
        mp.setenv(f"GIT_{who}_EMAIL", "test@example.com")


def _dvc(root: Path, *args: str) -> str:
    proc = run_dvc(root, *args)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def twin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """main (lr 0.1) with experiment ``e1`` (lr 0.3), workspace at e1's values, built by DVC."""
    root = tmp_path_factory.mktemp("twin") / "repo"
    root.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        _identity(mp, tmp_path_factory.mktemp("home"))
        # NOTE: the stage's `python` must import yaml: the test venv's python.
        mp.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
        git(root, "init", "-q", "-b", "main")
        _dvc(root, "init", "-q")
        gen(
            root,
            {
                "train.py": TRAIN,
                "score.py": SCORE,
                "dvc.yaml": DVC_YAML,
                "params.yaml": "train:\n  lr: 0.1\n",
            },
        )
        _dvc(root, "repro", "-q")
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "baseline")
        _dvc(root, "exp", "run", "-q", "-S", "train.lr=0.3", "-n", "e1")
        yield root


def _copy(twin: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "copy"
    shutil.copytree(twin, dest, symlinks=True)
    return dest


def _dvc_json(root: Path, *args: str) -> Any:
    return json.loads(_dvc(root, *args, "--json"))


def _cached(root: Path, rev: str, rel: str) -> Path:
    """The cache file of ``eval/<rel>`` as ``rev``'s lock and manifest name it."""
    lock = git(root, "show", f"{rev}:dvc.lock")
    dir_md5 = next(line.split()[-1] for line in lock.splitlines() if ".dir" in line)
    cache = root / ".dvc" / "cache" / "files" / "md5"
    manifest = json.loads((cache / dir_md5[:2] / dir_md5[2:]).read_text())
    md5 = next(e["md5"] for e in manifest if e["relpath"] == rel)
    return cache / md5[:2] / md5[2:]


def _run_cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return subprocess.run(
        [CLI, *args], cwd=root, capture_output=True, text=True, env=env, timeout=120
    )


def test_exp_show_json_is_dvcs(twin: Path) -> None:
    theirs = _dvc_json(twin, "exp", "show")
    ours = to_json(collect_experiments(twin, show_files(twin)))
    assert ours[1]["data"]["metrics"]["eval/metrics.json"]["data"]["acc"] == 0.6
    assert ours[1]["data"]["metrics"]["score.json"] == {"data": {"val": 0.9}}
    assert ours == theirs


def test_metrics_and_params_diffs_are_dvcs(twin: Path) -> None:
    files = show_files(twin)
    assert metrics_diff(twin, "main", "e1", files=files) == _dvc_json(
        twin, "metrics", "diff", "main", "e1"
    )
    assert params_diff(twin, "main", "e1", files=files) == _dvc_json(
        twin, "params", "diff", "main", "e1"
    )
    both = exp_diff(twin, "main", "e1", files=files)
    assert both["metrics"]["eval/metrics.json"]["acc"]["old"] == 0.6
    assert both["params"]["eval/hp.yaml"]["chosen.lr"]["new"] == 0.3
    assert both == _dvc_json(twin, "exp", "diff", "main", "e1")
    assert metrics_show(twin, files=files) == _dvc_json(twin, "metrics", "show")


def _values(shown: dict[str, Any]) -> dict[str, Any]:
    return {
        pid: [(p["type"], p["revisions"], p["content"]["data"]["values"]) for p in plots]
        for pid, plots in shown["data"].items()
    }


def test_plot_folder_in_a_cached_out_diffs_as_dvc(twin: Path) -> None:
    theirs = _dvc_json(twin, "plots", "diff", "main", "e1")
    ours = plots_json(collect_plots(twin, diff_revisions(["main", "e1"])))
    assert sorted(_values(ours)) == [
        "curve.tsv",
        "eval/plots/metrics/acc.json",
        "eval/plots/metrics/loss.tsv",
    ]
    assert _values(ours) == _values(theirs)


def test_plots_show_of_a_folder_target_is_dvcs(twin: Path) -> None:
    # NOTE: DVC answers a target with each definition twice ('dvc.yaml::<file>'
    # and the bare file, re-indexed); we give the definitions, as untargeted.
    theirs = _values(_dvc_json(twin, "plots", "show"))
    ours = plots_json(collect_plots(twin, ["workspace"], targets=["eval/plots/metrics"]))
    assert _values(ours) == {k: v for k, v in theirs.items() if k.startswith("eval/plots/")}
    one = plots_json(collect_plots(twin, ["workspace"], targets=["eval/plots/metrics/loss.tsv"]))
    assert list(_values(one)) == ["eval/plots/metrics/loss.tsv"]


def test_workspace_without_the_folder_reads_the_cache(twin: Path, tmp_path: Path) -> None:
    root = _copy(twin, tmp_path)
    shutil.rmtree(root / "eval")
    assert metrics_show(root, files=show_files(root)) == _dvc_json(root, "metrics", "show")
    assert not (root / "eval").exists()


def test_object_only_on_the_remote_is_fetched(twin: Path, tmp_path: Path) -> None:
    root = _copy(twin, tmp_path)
    _dvc(root, "remote", "add", "-d", "store", str(tmp_path / "store"))
    # NOTE: a remote is the cache's files/md5 layout; `dvc push -A` skips main here.
    shutil.copytree(root / ".dvc" / "cache" / "files", tmp_path / "store" / "files")
    obj = _cached(root, "main", "metrics.json")
    data = obj.read_bytes()
    obj.unlink()
    ours = to_json(collect_experiments(root, show_files(root)))
    assert ours[1]["data"]["metrics"]["eval/metrics.json"] == {
        "data": {"acc": 0.6, "loss": {"val": 0.9}, "n": 3}
    }
    assert obj.read_bytes() == data


@pytest.mark.parametrize("remote", ["empty-folder", "closed-port"])
def test_unreachable_remote_shows_bang_and_one_warning(
    twin: Path, tmp_path: Path, remote: str
) -> None:
    root = _copy(twin, tmp_path)
    if remote == "empty-folder":
        _dvc(root, "remote", "add", "-d", "gone", str(tmp_path / "no-such-store"))
    else:
        _dvc(root, "remote", "add", "-d", "gone", "s3://bucket/prefix")
        _dvc(root, "remote", "modify", "gone", "endpointurl", f"http://127.0.0.1:{free_port()}")
    for rel in ("metrics.json", "hp.yaml"):
        _cached(root, "main", rel).unlink()
    before = sorted(p.relative_to(root) for p in (root / ".dvc" / "cache").rglob("*"))
    result = _run_cli(root, "exp", "show", "--md")
    assert result.returncode == 0, result.stderr
    lines = [[c.strip() for c in line.strip("|").split("|")] for line in result.stdout.splitlines()]
    header = lines[0]
    main = next(cells for cells in lines if cells[0] == "main")
    cells = {name: main[header.index(name)] for name in ("acc", "n", "chosen.lr", "val")}
    assert cells == {"acc": "!", "n": "!", "chosen.lr": "!", "val": "0.9"}
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert ("cached outs" if remote == "empty-folder" else "remote 'gone'") in result.stderr
    assert sorted(p.relative_to(root) for p in (root / ".dvc" / "cache").rglob("*")) == before
    shown = to_json(collect_experiments(root, show_files(root)))
    assert (
        shown[1]["data"]["metrics"]["eval/metrics.json"]
        == _dvc_json(root, "metrics", "show", "-a")["main"]["data"]["eval/metrics.json"]
    )


@pytest.mark.parametrize(
    "damage",
    ["manifest-not-json", "manifest-not-a-list", "lock-md5-escapes", "object-rotted"],
)
def test_damaged_cache_or_lock_is_an_error_cell(twin: Path, tmp_path: Path, damage: str) -> None:
    root = _copy(twin, tmp_path)
    lock = git(root, "show", "main:dvc.lock")
    dir_md5 = next(line.split()[-1] for line in lock.splitlines() if ".dir" in line)
    manifest = root / ".dvc" / "cache" / "files" / "md5" / dir_md5[:2] / dir_md5[2:]
    if damage == "manifest-not-json":
        manifest.write_bytes(b"{not json")
    elif damage == "manifest-not-a-list":
        manifest.write_bytes(b'["x"]')
    elif damage == "object-rotted":
        _cached(root, "main", "metrics.json").write_bytes(b'{"acc": 99}')
    else:
        bad = lock.replace(dir_md5, "../../../../../etc/passwd")
        git(root, "checkout", "-q", "-b", "hostile", "main")
        gen(root, {"dvc.lock": bad})
        git(root, "commit", "-q", "-am", "hostile lock")
    rev = "hostile" if damage == "lock-md5-escapes" else "main"
    files = show_files(root)
    shown = metrics_show(root, files=files, revs=[rev])[rev]["data"]["eval/metrics.json"]
    if damage == "lock-md5-escapes":
        assert "error" in shown or shown == {"data": {}}, shown
    else:
        assert shown == {
            "error": {
                "type": "FileNotFoundError",
                "msg": "[Errno 2] No storage files available: 'eval/metrics.json'",
            }
        }


@pytest.mark.parametrize("relpath", ["../evil", "a/../../evil", "/etc/passwd", "a//b", "./a", ""])
def test_manifest_naming_a_path_outside_its_folder_is_refused(git_repo: Path, relpath: str) -> None:
    def put(data: bytes) -> str:
        md5 = hashlib.md5(data).hexdigest()
        path = git_repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return md5

    good = put(b"ok\n")
    listing = [{"md5": good, "relpath": "fine.txt"}, {"md5": good, "relpath": relpath}]
    manifest = json.dumps(sorted(listing, key=lambda e: e["relpath"])).encode()
    dir_md5 = put(manifest)
    (git_repo / ".dvc" / "cache" / "files" / "md5" / dir_md5[:2] / dir_md5[2:]).rename(
        git_repo / ".dvc" / "cache" / "files" / "md5" / dir_md5[:2] / (dir_md5[2:] + ".dir")
    )
    outs = {"d": dir_md5 + ".dir"}
    objects = ObjectReader(git_repo)
    assert files_under(outs, "d", objects) is None
    assert out_object(outs, "d/fine.txt", objects) is None
    good_manifest = json.dumps([{"md5": good, "relpath": "fine.txt"}]).encode()
    ok_md5 = put(good_manifest)
    (git_repo / ".dvc" / "cache" / "files" / "md5" / ok_md5[:2] / ok_md5[2:]).rename(
        git_repo / ".dvc" / "cache" / "files" / "md5" / ok_md5[:2] / (ok_md5[2:] + ".dir")
    )
    assert files_under({"d": ok_md5 + ".dir"}, "d", objects) == ["d/fine.txt"]


def test_lock_paths_are_joined_with_each_stages_wdir() -> None:
    dvcyaml = (
        b"stages:\n  a:\n    wdir: sub\n    cmd: x\n    outs: [o]\n"
        b"  b:\n    foreach: [p]\n    do:\n      wdir: fe\n      cmd: x\n      outs: [o]\n"
        b"  c:\n    wdir: ${w}\n    cmd: x\n    outs: [o2]\n"
    )
    entry = "    outs:\n    - path: {p}\n      hash: md5\n      md5: {m}\n      size: 1\n"
    lock = (
        "schema: '2.0'\nstages:\n  a:\n    cmd: x\n"
        + entry.format(p="o", m="a" * 32)
        + "  b@p:\n    cmd: x\n"
        + entry.format(p="o", m="b" * 32)
        + "  c:\n    cmd: x\n"
        + entry.format(p="o2", m="c" * 32)
        + "  d:\n    cmd: x\n    outs:\n    - path: dos2unix\n      md5: "
        + "d" * 32
        + "\n"
    ).encode()
    assert locked_outs(dvcyaml, lock, "pipe") == {
        "pipe/sub/o": "a" * 32,
        "pipe/fe/o": "b" * 32,
        "pipe/o2": "c" * 32,
        # NOTE: a DVC 2 entry names its legacy object (md5-dos2unix, DVC 2's layout)
        "pipe/dos2unix": "md5-dos2unix:" + "d" * 32,
    }
    assert locked_outs(dvcyaml, b"not: [a lock", "") == {}
