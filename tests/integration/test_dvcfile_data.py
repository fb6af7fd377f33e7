"""``.dvc``-tracked data in the data commands and everywhere a run needs it (issue #12).

One get-started-shaped project is built once: ``data/data.xml`` and
``data/images/`` tracked by ``.dvc`` files that real ``dvc add`` wrote, a
four-stage pipeline (prepare -> featurize -> train -> evaluate) that reads
them, reproduced and pushed by prefect-dvc to an S3 (moto) remote. Each
test clones it afresh (an empty cache, no data) and checks what a new user
sees: ``pull`` then ``repro`` reruns nothing, ``repro --pull`` and queued
experiments get the data on their own, targets name ``.dvc`` files and
tracked paths, and real DVC 3.67.1 agrees with what we pushed and wrote.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import CLI, CliResult
from helpers import gen, git, run_dvc

pytestmark = [pytest.mark.s3, pytest.mark.dvc_interop, pytest.mark.prefect]

DATA = {
    "data/data.xml": "<row id='2'>b</row>\n<row id='1'>a</row>\n<row id='3'>c</row>\n",
    "data/images/cat.txt": "meow\n",
    "data/images/dog.txt": "woof\n",
}
PIPELINE = {
    "params.yaml": "train:\n  lr: 1\n",
    "dvc.yaml": """\
stages:
  prepare:
    cmd: mkdir -p data/prepared && sort data/data.xml > data/prepared/train.txt
    deps: [data/data.xml]
    outs: [data/prepared]
  featurize:
    cmd: >-
      mkdir -p data/features && wc -l < data/prepared/train.txt > data/features/n.txt
      && ls data/images > data/features/images.txt
    deps: [data/prepared, data/images]
    outs: [data/features]
  train:
    cmd: echo "lr ${train.lr}" > model.txt && cat data/features/n.txt >> model.txt
    deps: [data/features]
    params: [train.lr]
    outs: [model.txt]
  evaluate:
    cmd: >-
      echo '{"score": '${train.lr}'}' > eval.json && cat model.txt > /dev/null
    deps: [model.txt]
    metrics:
      - eval.json:
          cache: false
""",
}
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass(frozen=True)
class Project:
    origin: Path
    bucket: str
    env: dict[str, str]
    pushed: CliResult
    mirror: Path  # the bucket's remote, copied to disk: real DVC here has no dvc-s3

    def clone(self, dest: Path) -> Path:
        git(dest.parent, "clone", "-q", str(self.origin), dest.name)
        git(dest, "config", "user.email", "t@example.com")
        git(dest, "config", "user.name", "t")
        return dest

    def dvc(self, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
        """Real DVC with :attr:`mirror` as its default remote (``config.local``)."""
        if not (cwd / ".dvc" / "config.local").exists():
            for cmd in (
                ("add", "--local", "mirror", str(self.mirror)),
                ("default", "--local", "mirror"),
            ):
                done = run_dvc(cwd, "remote", *cmd)
                assert done.returncode == 0, done.stderr
        return run_dvc(cwd, *args)

    def ours(self, cwd: Path, *args: str) -> CliResult:
        proc = subprocess.run(
            [CLI, *args], cwd=cwd, capture_output=True, text=True, env=self.env, timeout=600
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)


def _s3(endpoint: str) -> Any:
    import s3fs

    return s3fs.S3FileSystem(
        key="testing", secret="testing", client_kwargs={"endpoint_url": endpoint}
    )


def _bucket(endpoint: str) -> str:
    name = f"dvcdata-{uuid.uuid4().hex[:12]}"
    _s3(endpoint).mkdir(name)
    return name


def _download(endpoint: str, bucket: str, dest: Path) -> Path:
    fs = _s3(endpoint)
    fs.invalidate_cache()
    fs.get(f"{bucket}/store/", str(dest), recursive=True)
    return dest


@pytest.fixture(scope="module")
def project(
    tmp_path_factory: pytest.TempPathFactory, s3_endpoint: str, prefect_env: dict[str, str]
) -> Iterator[Project]:
    """The project after ``dvc add`` (real DVC), our ``repro`` and our ``push`` to S3."""
    origin = tmp_path_factory.mktemp("dvcdata") / "origin"
    origin.mkdir()
    git(origin, "init", "-q", "-b", "main")
    git(origin, "config", "user.email", "t@example.com")
    git(origin, "config", "user.name", "t")
    assert run_dvc(origin, "init", "-q").returncode == 0
    gen(origin, DATA)
    added = run_dvc(origin, "add", "-q", "data/data.xml", "data/images")
    assert added.returncode == 0, added.stderr
    bucket = _bucket(s3_endpoint)
    gen(origin, PIPELINE)
    for args in (
        ("remote", "add", "-d", "s3", f"s3://{bucket}/store"),
        ("remote", "modify", "s3", "endpointurl", s3_endpoint),
    ):
        assert run_dvc(origin, *args).returncode == 0
    env = {**prefect_env, **CREDENTIALS}
    proj = Project(origin, bucket, env, CliResult(0, "", ""), origin)
    ran = proj.ours(origin, "repro")
    assert ran.code == 0, ran.err
    pushed = proj.ours(origin, "push")
    assert pushed.code == 0, pushed.err
    git(origin, "add", "-A")
    git(origin, "commit", "-q", "-m", "get-started")
    mirror = _download(s3_endpoint, bucket, origin.parent / "mirror")
    yield Project(origin, bucket, env, pushed, mirror)


def _tree(root: Path, *rels: str) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for rel in rels:
        path = root / rel
        if not path.exists():
            continue
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        found.update({p.relative_to(root).as_posix(): p.read_bytes() for p in files})
    return found


WORKSPACE = ("data", "model.txt", "eval.json")


def test_push_sends_dvcfile_data_and_real_dvc_finds_it_in_sync(project: Project) -> None:
    # data.xml, images (2 files + .dir), prepared (1 + .dir), features (2 + .dir), model.txt
    assert project.pushed.out == "10 files pushed\n"
    status = project.dvc(project.origin, "status", "-c")
    assert status.returncode == 0, status.stderr
    assert status.stdout == "Cache and remote 'mirror' are in sync.\n"
    again = project.ours(project.origin, "push")
    assert (again.code, again.out) == (0, "Everything is up to date.\n")


def test_fresh_clone_pull_then_repro_reruns_nothing_and_dvc_agrees(
    project: Project, tmp_path: Path
) -> None:
    clone = project.clone(tmp_path / "clone")
    assert not (clone / "data/data.xml").exists()
    pulled = project.ours(clone, "pull")
    assert pulled.code == 0, pulled.err
    assert pulled.out == (
        "A       data/features/\nA       data/images/\nA       data/prepared/\n"
        "A       data/data.xml\nA       model.txt\n10 files fetched and 7 files added\n"
    )
    assert _tree(clone, *WORKSPACE) == _tree(project.origin, *WORKSPACE)
    repro = project.ours(clone, "repro")
    assert (repro.code, repro.out) == (0, "Data and pipelines are up to date.\n")
    status = project.dvc(clone, "status")
    assert status.stdout == "Data and pipelines are up to date.\n", status.stdout
    checkout = project.dvc(clone, "checkout")
    assert (checkout.returncode, checkout.stdout) == (0, "")


@pytest.mark.parametrize(
    "target",
    ["data/data.xml.dvc", "data/data.xml", "data/images", "data/images/", "train"],
)
def test_pull_of_one_target_prints_and_restores_what_dvc_does(
    project: Project, tmp_path: Path, target: str
) -> None:
    ours, theirs = project.clone(tmp_path / "ours"), project.clone(tmp_path / "theirs")
    got = project.ours(ours, "pull", target)
    want = project.dvc(theirs, "pull", target)
    assert (got.code, got.out) == (want.returncode, want.stdout), (got.err, want.stderr)
    assert _tree(ours, *WORKSPACE[:2]) == _tree(theirs, *WORKSPACE[:2])


def test_repro_pull_in_a_fresh_clone_fetches_the_dvcfile_data_and_runs_nothing(
    project: Project, tmp_path: Path
) -> None:
    clone = project.clone(tmp_path / "clone")
    ran = project.ours(clone, "repro", "--pull")
    assert ran.code == 0, ran.err
    assert "Running stage" not in ran.out + ran.err
    assert _tree(clone, *WORKSPACE) == _tree(project.origin, *WORKSPACE)


def test_queued_experiments_in_a_fresh_clone_get_the_data_from_the_remote(
    project: Project, tmp_path: Path
) -> None:
    clone = project.clone(tmp_path / "clone")
    for lr in (2, 3, 4):
        queued = project.ours(clone, "exp", "run", "--queue", "-S", f"train.lr={lr}")
        assert queued.code == 0, queued.err
    ran = project.ours(clone, "exp", "run", "--run-all", "-j", "2")
    assert ran.code == 0, ran.err
    refs = git(clone, "for-each-ref", "--format=%(objectname)", "refs/exps").split()
    scores = sorted(git(clone, "show", f"{ref}:eval.json") for ref in refs)
    assert scores == ['{"score": 2}', '{"score": 3}', '{"score": 4}']
    assert not (clone / "data/data.xml").exists()  # the workspace itself is left alone


def test_a_worker_clone_gets_the_data_before_the_first_stage_and_keeps_a_users_copy(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect_dvc.errors import MissingObjectError
    from prefect_dvc.tracked_data import place_tracked_data

    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    clone = project.clone(tmp_path / "clone")
    (clone / "data" / "images").mkdir(parents=True)
    (clone / "data" / "images" / "mine.txt").write_text("the user's\n")
    placed = place_tracked_data(clone)  # what exp_run does in a fresh worker clone
    assert placed.restored == ("data/data.xml",) and placed.missing == ()
    assert (clone / "data/data.xml").read_bytes() == (project.origin / "data/data.xml").read_bytes()
    assert sorted(p.name for p in (clone / "data/images").iterdir()) == ["mine.txt"]

    # An object the remote lacks: repro --pull (strict) names it, a queued run goes on.
    gen(
        clone,
        {"extra.dvc": "outs:\n- md5: " + "ab" * 16 + "\n  size: 1\n  hash: md5\n  path: extra\n"},
    )
    with pytest.raises(MissingObjectError, match="extra"):
        place_tracked_data(clone, strict=True)
    assert place_tracked_data(clone).missing == ("extra",)
    assert not (clone / "extra").exists()
