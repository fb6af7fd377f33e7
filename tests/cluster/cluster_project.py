"""The fan-out project of the cluster tests: 6 stages over one input, and a join."""

from __future__ import annotations

import sys
from pathlib import Path

from helpers import gen, git

from prefect_dvc.cluster.snapshot import take_snapshot
from prefect_dvc.cluster.worker import StageJob
from prefect_dvc.config import load_config
from prefect_dvc.execution import PlannedRun, RunOptions, open_executor
from prefect_dvc.storage.remotes import open_remote
from prefect_dvc.translators.index import load_index

FAN = ("s1", "s2", "s3", "s4", "s5", "s6")

RECORD = """\
import json, os, pathlib, sys

name = sys.argv[1]
src = pathlib.Path("data/in.txt")
text = src.read_text() + pathlib.Path("data/settings.txt").read_text()
records = os.environ.get("CLUSTER_RECORDS")
if records:
    note = {"stage": name, "pid": os.getpid(), "cwd": os.getcwd(),
            "dep": os.path.realpath(src), "root": os.environ.get("DVC_ROOT")}
    (pathlib.Path(records) / f"{name}-{os.getpid()}.json").write_text(json.dumps(note))
    arm = pathlib.Path(records) / "kill-once"
    try:
        arm.rename(arm.with_suffix(".fired"))
    except FileNotFoundError:
        pass
    else:
        import psutil
        # NOTE: the first python ancestor is the Dask worker process (its nanny restarts it).
        worker = next(p for p in psutil.Process().parents() if "python" in p.name())
        worker.kill()
out = pathlib.Path("out")
out.mkdir(exist_ok=True)
(out / f"{name}.txt").write_text(f"{name}:{text.upper()}")
"""

JOIN = """\
import os, pathlib, sys

parts = [pathlib.Path("out", f"{n}.txt").read_text() for n in sys.argv[1:]]
pathlib.Path("final.txt").write_text("|".join(parts))
report = pathlib.Path("report")
report.mkdir(exist_ok=True)
(report / "count.txt").write_text(str(len(parts)))
(report / "first.txt").write_text(parts[0])
records = os.environ.get("CLUSTER_RECORDS")
if records:
    note = pathlib.Path(records) / f"join-{os.getpid()}.json"
    note.write_text('{"stage": "join", "pid": %d, "cwd": "%s", "dep": "%s", "root": "%s"}' % (
        os.getpid(), os.getcwd(), os.path.realpath("out/s1.txt"), os.environ.get("DVC_ROOT")))
"""


def dvc_yaml() -> str:
    py = sys.executable
    lines = ["stages:"]
    for name in FAN:
        lines += [
            f"  {name}:",
            f"    cmd: {py} record.py {name}",
            "    deps: [record.py, data/in.txt, data/settings.txt]",
            f"    outs: [out/{name}.txt]",
        ]
    lines += [
        "  join:",
        f"    cmd: {py} join.py {' '.join(FAN)}",
        "    deps: [join.py, " + ", ".join(f"out/{n}.txt" for n in FAN) + "]",
        "    outs: [final.txt, report]",
    ]
    return "\n".join(lines) + "\n"


def make_project(root: Path, remote_config: str = "") -> None:
    """Write and commit the project into the Git repository ``root``."""
    gen(
        root,
        {
            "dvc.yaml": dvc_yaml(),
            "record.py": RECORD,
            "join.py": JOIN,
            "data/in.txt": "hello cluster\n",
            # NOTE: a dep Git ignores (not committed): it must still reach the workers.
            "data/settings.txt": "mode=fast\n",
            "data/.gitignore": "/settings.txt\n",
            ".dvc/config": remote_config,
        },
    )
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "fan-out project")


def s3_config(bucket: str, endpoint: str) -> str:
    return (
        "[core]\n    remote = store\n"
        f"['remote \"store\"']\n    url = s3://{bucket}/remote\n    endpointurl = {endpoint}\n"
    )


def outputs(root: Path) -> dict[str, bytes]:
    """Every file a run writes: outs, dvc.lock, .gitignore files."""
    names = [f"out/{n}.txt" for n in FAN] + [
        "final.txt",
        "dvc.lock",
        ".gitignore",
        "out/.gitignore",
    ]
    return {n: (root / n).read_bytes() for n in names if (root / n).exists()}


HOLD = """\
import os, pathlib, sys, time

records = pathlib.Path(os.environ["CLUSTER_RECORDS"])
(records / f"{sys.argv[1]}.started").write_text(str(os.getpid()))
while not (records / f"{sys.argv[1]}.go").exists():
    time.sleep(0.05)
pathlib.Path(sys.argv[2]).write_text("held " + pathlib.Path("data/in.txt").read_text())
"""


def make_hold_project(root: Path, remote_config: str, name: str) -> None:
    """One stage that notes it started, then waits for ``$CLUSTER_RECORDS/<name>.go``."""
    dvc_yaml = (
        f"stages:\n  {name}:\n    cmd: {sys.executable} hold.py {name} held.txt\n"
        "    deps: [hold.py, data/in.txt]\n    outs: [held.txt]\n"
    )
    _commit_hold(root, dvc_yaml, remote_config, "hold project")


def make_hold_foreach(root: Path, remote_config: str, items: tuple[str, ...]) -> None:
    """Foreach stage ``hold@<item>`` per item; each notes ``hold-<item>.started`` and waits."""
    dvc_yaml = (
        f"stages:\n  hold:\n    foreach: [{', '.join(items)}]\n    do:\n"
        f"      cmd: {sys.executable} hold.py hold-${{item}} held-${{item}}.txt\n"
        "      deps: [hold.py, data/in.txt]\n      outs:\n        - held-${item}.txt\n"
    )
    _commit_hold(root, dvc_yaml, remote_config, "hold foreach project")


def _commit_hold(root: Path, dvc_yaml: str, remote_config: str, message: str) -> None:
    gen(
        root,
        {
            "dvc.yaml": dvc_yaml,
            "hold.py": HOLD,
            "data/in.txt": "hello\n",
            ".dvc/config": remote_config,
        },
    )
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)


def worker_job(root: Path, name: str, lease: str = "") -> StageJob:
    """Plan ``name`` and snapshot ``root`` as the driver does; the job a worker would get."""
    pipeline = load_index(root)
    rc = load_config(root).remote(None)
    remote = open_remote(rc)
    with open_executor(root, pipeline, use_remote=False) as executor:
        planned = executor.plan(name, RunOptions(), lambda line: None)
        assert isinstance(planned, PlannedRun)
        snap = take_snapshot(root, pipeline, executor.hasher, remote.objects)
    return StageJob(name, pipeline, planned.key_entry, snap, (), rc, lease=lease, lease_ttl=600)


SHAPES = {
    "sub/prep.py": (
        "import os, pathlib\n"
        "pathlib.Path('out.txt').write_text(pathlib.Path('in.txt').read_text().upper())\n"
        "rec = os.environ.get('CLUSTER_RECORDS')\n"
        "if rec:\n"
        "    pathlib.Path(rec, f'prep-{os.getpid()}.json').write_text(\n"
        '        \'{"stage": "prep", "cwd": "%s"}\' % os.getcwd())\n'
    ),
    "sub/in.txt": "shapes\n",
    "item.py": (
        "import os, pathlib, sys\n"
        "item = sys.argv[1]\n"
        "pathlib.Path('res').mkdir(exist_ok=True)\n"
        "text = pathlib.Path('sub/out.txt').read_text()\n"
        "pathlib.Path('res', item + '.txt').write_text(item + ':' + text)\n"
        "rec = os.environ.get('CLUSTER_RECORDS')\n"
        "if rec:\n"
        "    pathlib.Path(rec, f'{item}-{os.getpid()}.json').write_text(\n"
        '        \'{"stage": "%s", "cwd": "%s"}\' % (os.environ[\'DVC_STAGE\'], os.getcwd()))\n'
    ),
}


def make_shapes_project(root: Path, remote_config: str = "") -> None:
    """A ``wdir:`` stage and a ``foreach`` stage over its out, committed in ``root``."""
    py = sys.executable
    gen(
        root,
        {
            **SHAPES,
            "dvc.yaml": (
                "stages:\n"
                f"  prep:\n    wdir: sub\n    cmd: {py} prep.py\n"
                "    deps: [prep.py, in.txt]\n    outs: [out.txt]\n"
                "  loop:\n    foreach: [a, b]\n    do:\n"
                f"      cmd: {py} item.py ${{item}}\n"
                "      deps: [item.py, sub/out.txt]\n      outs:\n      - res/${item}.txt\n"
            ),
            ".dvc/config": remote_config,
        },
    )
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "shapes project")


def shape_outputs(root: Path) -> dict[str, bytes]:
    names = [
        "sub/out.txt",
        "res/a.txt",
        "res/b.txt",
        "dvc.lock",
        "sub/.gitignore",
        "res/.gitignore",
    ]
    return {n: (root / n).read_bytes() for n in names if (root / n).exists()}
