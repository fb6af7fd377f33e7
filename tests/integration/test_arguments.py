"""No user-supplied string reaches git as an option (issue #11 section 5).

Every command that takes a Git remote, a revision or an experiment name is
given option-shaped values that would run ``touch MARK`` if Git read them as
options (``--upload-pack``, ``-oProxyCommand``, ``--exec``) or as a
command-running transport (``ext::``). The marker must never appear, the
command must fail with one ``ERROR:`` line, and refs and workspace stay put.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import gen, git

from prefect_dvc.errors import GitError
from prefect_dvc.experiments.git import check_remote


def _values(mark: Path) -> list[str]:
    return [
        f"--upload-pack=touch {mark};true",
        f"--receive-pack=touch {mark};true",
        f"-oProxyCommand=touch {mark}",
        f"--exec=touch {mark}",
        f"-u touch {mark}",
        f"ext::sh -c touch% {mark}",
    ]


COMMANDS = [
    ("exp", "push", "--", "{v}", "e1"),
    ("exp", "pull", "--", "{v}", "e1"),
    ("exp", "push", "--", "{v}"),
    ("exp", "remove", "--git-remote={v}", "e1"),
    ("exp", "apply", "--", "{v}"),
    ("exp", "branch", "--", "{v}"),
    ("exp", "branch", "--", "e1", "{v}"),
    ("exp", "remove", "--", "{v}"),
    ("exp", "show", "--rev={v}"),
    ("exp", "diff", "--", "{v}"),
    ("params", "diff", "--", "{v}"),
    ("metrics", "diff", "--", "{v}"),
    ("plots", "diff", "--", "{v}"),
    ("exp", "run", "--name={v}"),
    ("exp", "run", "--queue", "--name={v}"),
    ("exp", "run", "--rev={v}"),
]


@pytest.fixture
def exp_repo(git_repo: Path) -> Path:
    """A project with one experiment ``e1`` (a ref to a commit of its own)."""
    gen(
        git_repo,
        {
            "params.yaml": "lr: 1\n",
            "metrics.json": '{"acc": 0.5}\n',
            "dvc.yaml": (
                "stages:\n  train:\n    cmd: echo ok\n    params: [lr]\n"
                "    metrics: [metrics.json: {cache: false}]\n"
            ),
        },
    )
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "pipeline")
    base = git(git_repo, "rev-parse", "HEAD")
    tree = git(git_repo, "rev-parse", "HEAD^{tree}")
    exp = git(git_repo, "commit-tree", tree, "-p", base, "-m", "exp")
    git(git_repo, "update-ref", f"refs/exps/{base[:2]}/{base[2:]}/e1", exp)
    return git_repo


def _snapshot(repo: Path) -> tuple[str, str]:
    return git(repo, "for-each-ref"), git(repo, "status", "--porcelain", "--untracked-files=all")


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a[:2]) + " " + a[-1][:12])
def test_option_shaped_values_never_reach_git_as_options(
    exp_repo: Path, tmp_path: Path, cli, args: tuple[str, ...]
) -> None:
    mark = tmp_path / "MARK"
    before = _snapshot(exp_repo)
    for value in _values(mark):
        argv = [a.replace("{v}", value) for a in args]
        result = cli(exp_repo, *argv)
        assert not mark.exists(), f"{argv} ran a command"
        assert result.code != 0, (argv, result.out)
        errors = [ln for ln in result.err.splitlines() if ln.startswith("ERROR:")]
        assert len(errors) == 1, (argv, result.err)
        assert "Traceback" not in result.err
        assert _snapshot(exp_repo) == before


@pytest.mark.parametrize(
    "remote", ["-x", "--upload-pack=x", "", " ", "ext::sh -c x", "FD::1", "a\nb", "a\x00b"]
)
def test_check_remote_refuses(remote: str) -> None:
    with pytest.raises(GitError) as exc:
        check_remote(remote)
    assert "is not a usable Git remote" in str(exc.value)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize(
    "remote", ["origin", "my-remote", "https://h/x.git", "file:///srv/x.git", "git@h:x.git", "../x"]
)
def test_check_remote_accepts(remote: str) -> None:
    assert check_remote(remote) == remote


@pytest.mark.parametrize("name", ["a" * 300, "x..y", "end.lock", "-lead", "a@{1}", "sp ace"])
def test_bad_experiment_name_fails_before_any_stage_runs(
    git_repo: Path, tmp_path: Path, cli, name: str
) -> None:
    mark = tmp_path / "stage-ran"
    gen(
        git_repo,
        {
            "params.yaml": "lr: 1\n",
            "dvc.yaml": f"stages:\n  s:\n    cmd: touch {mark} && echo ${{lr}} > o.txt\n"
            "    params: [lr]\n    outs: [o.txt]\n",
        },
    )
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "pipeline")
    before = _snapshot(git_repo)
    for queue in ([], ["--queue"]):
        result = cli(git_repo, "exp", "run", *queue, f"--name={name}", "-S", "lr=2")
        assert result.code == 1, result.err
        errors = [ln for ln in result.err.splitlines() if ln.startswith("ERROR:")]
        assert len(errors) == 1 and "is not a valid experiment name" in errors[0]
        assert not mark.exists()
        assert _snapshot(git_repo) == before
        assert (git_repo / "params.yaml").read_text() == "lr: 1\n"
