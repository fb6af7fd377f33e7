"""`prefect-dvc repro` end to end: real Git repos, real shell stages, Prefect's harness."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import gen, git, run_dvc

from prefect_dvc.lockfile import read_lock
from prefect_dvc.yamlio import load_yaml

pytestmark = pytest.mark.prefect
GOLDEN = Path(__file__).resolve().parents[1] / "data" / "get-started.dvc.lock"


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_example_runs_and_writes_the_lock_dvc_writes(example_repo: Path, cli) -> None:
    result = cli(example_repo, "repro")
    assert result.code == 0, result.err
    lock_path = example_repo / "dvc.lock"
    assert load_yaml(lock_path) == load_yaml(GOLDEN)
    assert lock_path.read_text() == GOLDEN.read_text()
    metrics = example_repo / "eval" / "metrics.json"
    assert read_lock(lock_path)["evaluate"]["outs"][0]["md5"] == md5(metrics)
    assert "/prepared" in (example_repo / "data" / ".gitignore").read_text().splitlines()
    assert (example_repo / ".dvc" / "cache" / "files" / "md5").is_dir()

    again = cli(example_repo, "repro")
    assert again.code == 0
    assert "Data and pipelines are up to date." in again.out


def test_noop_repro_and_status_never_import_prefect(example_repo: Path, cli) -> None:
    assert cli(example_repo, "repro").code == 0
    code = (
        "import sys; from prefect_dvc.cli import main; "
        "rc = main(['status']); rc2 = main(['repro']); "
        "print('PREFECT' if any(m == 'prefect' or m.startswith('prefect.') for m in sys.modules) "
        "else 'CLEAN', rc, rc2)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=example_repo, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "CLEAN 0 0"


def test_dvc_itself_sees_our_run_as_up_to_date(example_repo: Path, cli) -> None:
    assert cli(example_repo, "repro").code == 0
    status = run_dvc(example_repo, "status", "--json")
    assert status.returncode == 0, status.stderr
    assert status.stdout.strip() in ("{}", "")


COUNTING = {
    "dvc.yaml": """\
stages:
  gen:
    cmd: echo gen >> ../runs.log && python3 -c "print(1)" > a.txt
    deps: [seed.txt]
    outs: [a.txt]
  double:
    cmd: echo double >> ../runs.log && cat a.txt a.txt > b.txt
    deps: [a.txt]
    outs: [b.txt]
""",
    "seed.txt": "seed\n",
}


def _counting_repo(git_repo: Path) -> Path:
    work = git_repo / "work"
    gen(work, COUNTING)
    (git_repo / ".gitignore").write_text("runs.log\n")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "pipeline")
    return work


def test_deleted_outs_and_lock_are_restored_from_run_cache(git_repo: Path, cli) -> None:
    work = _counting_repo(git_repo)
    assert cli(work, "repro").code == 0
    runs = git_repo / "runs.log"
    assert runs.read_text() == "gen\ndouble\n"
    b_md5 = md5(work / "b.txt")
    for name in ("a.txt", "b.txt", "dvc.lock"):
        (work / name).unlink()
    result = cli(work, "repro")
    assert result.code == 0, result.err
    assert runs.read_text() == "gen\ndouble\n", "a command ran although the run-cache knew it"
    assert md5(work / "b.txt") == b_md5
    assert set(read_lock(work / "dvc.lock")) == {"gen", "double"}
    assert "restored from run-cache" in result.err


def test_no_run_cache_runs_the_commands(git_repo: Path, cli) -> None:
    work = _counting_repo(git_repo)
    assert cli(work, "repro").code == 0
    (work / "a.txt").unlink()
    assert cli(work, "repro", "--no-run-cache").code == 0
    assert (git_repo / "runs.log").read_text() == "gen\ndouble\ngen\n"


FAILING = {
    "dvc.yaml": """\
stages:
  ok:
    cmd: echo fine > ok.txt
    outs: [ok.txt]
  bad:
    cmd: echo about to fail && exit 3
    deps: [ok.txt]
    outs: [bad.txt]
  after:
    cmd: cp bad.txt after.txt
    deps: [bad.txt]
    outs: [after.txt]
  other:
    cmd: sleep 0.5 && echo other > other.txt
    outs: [other.txt]
""",
}


def test_failed_stage_stops_downstream_and_reports_one_line(git_repo: Path, cli) -> None:
    gen(git_repo, FAILING)
    result = cli(git_repo, "repro", "-j", "1")
    assert result.code == 1
    error = [ln for ln in result.err.splitlines() if ln.startswith("ERROR:")]
    assert len(error) == 1
    assert "stage 'bad'" in error[0] and "exit code 3" in error[0] and "about to fail" in error[0]
    assert "Traceback" not in result.err
    lock = read_lock(git_repo / "dvc.lock")
    assert "ok" in lock and "bad" not in lock and "after" not in lock
    assert not (git_repo / "after.txt").exists()


def test_keep_going_runs_independent_stages(git_repo: Path, cli) -> None:
    gen(git_repo, FAILING)
    result = cli(git_repo, "repro", "-k", "-j", "1")
    assert result.code == 1
    assert (git_repo / "other.txt").read_text() == "other\n"
    assert not (git_repo / "after.txt").exists()
    assert set(read_lock(git_repo / "dvc.lock")) == {"ok", "other"}


def test_independent_stages_overlap(git_repo: Path, cli) -> None:
    stages = "\n".join(
        # NOTE: 3 s per command: each stage takes the repository lock for its
        # status check before its command starts (DVC's lock discipline), and a
        # loaded 2-core machine must still see the commands overlap.
        f"  s{i}:\n    cmd: date +%s.%N > s{i}.start && sleep 3 && date +%s.%N > s{i}.end\n"
        f"    outs: [s{i}.start, s{i}.end]"
        for i in range(3)
    )
    gen(git_repo, {"dvc.yaml": "stages:\n" + stages + "\n"})
    assert cli(git_repo, "repro", "-j", "3").code == 0
    spans = [
        (float((git_repo / f"s{i}.start").read_text()), float((git_repo / f"s{i}.end").read_text()))
        for i in range(3)
    ]
    assert max(s for s, _ in spans) < min(e for _, e in spans), f"stages ran serially: {spans}"


def test_jobs_one_runs_stages_one_at_a_time(git_repo: Path, cli) -> None:
    stages = "\n".join(
        f"  s{i}:\n    cmd: date +%s.%N > s{i}.start && sleep 0.3 && date +%s.%N > s{i}.end\n"
        f"    outs: [s{i}.start, s{i}.end]"
        for i in range(2)
    )
    gen(git_repo, {"dvc.yaml": "stages:\n" + stages + "\n"})
    assert cli(git_repo, "repro", "-j", "1").code == 0
    (a0, a1), (b0, b1) = (
        (float((git_repo / f"s{i}.start").read_text()), float((git_repo / f"s{i}.end").read_text()))
        for i in range(2)
    )
    assert a1 <= b0 or b1 <= a0


def test_bad_dvc_yaml_is_one_line_and_changes_nothing(git_repo: Path, cli) -> None:
    gen(git_repo, {"dvc.yaml": "stages:\n  a:\n    command: echo\n"})
    before = sorted(p.name for p in git_repo.iterdir())
    result = cli(git_repo, "repro")
    assert result.code == 1
    assert result.err.strip().startswith("ERROR: dvc.yaml:3: stage 'a': ")
    assert "command" in result.err
    assert sorted(p.name for p in git_repo.iterdir()) == before


def test_missing_dependency_names_the_stage(git_repo: Path, cli) -> None:
    dvc_yaml = "stages:\n  a:\n    cmd: cat nope.txt > a\n    deps: [nope.txt]\n    outs: [a]\n"
    gen(git_repo, {"dvc.yaml": dvc_yaml})
    result = cli(git_repo, "repro")
    assert result.code == 1
    assert "stage 'a'" in result.err and "nope.txt" in result.err


def test_dag_and_status_json(example_repo: Path, cli) -> None:
    dag = cli(example_repo, "dag", "--mermaid")
    assert dag.code == 0 and dag.out.startswith("flowchart TD")
    status = cli(example_repo, "status", "--json")
    assert status.code == 0
    assert '"prepare"' in status.out
