"""Experiment refs and the Git wrapper, on real repositories."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from helpers import gen, git

from prefect_dvc.errors import ExperimentNotFoundError, GitError
from prefect_dvc.experiments.git import ZERO_SHA, Git
from prefect_dvc.experiments.refs import (
    ExpRef,
    list_exp_refs,
    resolve_exp,
    validate_name,
)

B1 = "97a0748d8e26d2e652038745192015d807f8d10a"


def _commit(root: Path, name: str, content: str) -> str:
    gen(root, {name: content})
    git(root, "add", name)
    git(root, "commit", "-q", "-m", f"add {name}")
    return git(root, "rev-parse", "HEAD")


def _exp(root: Path, baseline: str, name: str, *, parent: str | None = None) -> str:
    """An experiment commit made with git itself (the reader under test is ours)."""
    tree = git(root, "rev-parse", f"{baseline}^{{tree}}")
    sha = git(root, "commit-tree", tree, "-p", parent or baseline, "-m", f"exp {name}")
    git(root, "update-ref", ExpRef(baseline, name).ref, sha)
    return sha


# --- ExpRef -------------------------------------------------------------------------


def test_expref_ref_shape_and_parse_round_trip() -> None:
    exp = ExpRef(B1, "lr02")
    assert exp.ref == "refs/exps/97/a0748d8e26d2e652038745192015d807f8d10a/lr02"
    assert ExpRef.parse(exp.ref) == exp
    assert str(exp) == "lr02"


@pytest.mark.parametrize(
    "ref",
    [
        "refs/exps/stash",
        "refs/exps/celery/stash",
        "refs/exps/celery/failed",
        "refs/exps/apply/ORIG_HEAD",
        "refs/exps/apply/stash",
        "refs/exps/exec/EXEC_HEAD",
        "refs/exps/exec/EXEC_BRANCH",
        "refs/exps/temp/head-abc123",
        "refs/exps/97/a0748d8e26d2e652038745192015d807f8d10a",  # baseline without name
        "refs/exps/97/A0748D8E26D2E652038745192015D807F8D10A/x",  # not lowercase
        "refs/exps/97/a0748d8e/x",  # short baseline
        "refs/exps/97/a0748d8e26d2e652038745192015d807f8d10a/x/y",
        "refs/heads/97/a0748d8e26d2e652038745192015d807f8d10a/x",
        "refs/exps/97/a0748d8e26d2e652038745192015d807f8d10a/bad..name",
    ],
)
def test_parse_skips_what_is_not_an_experiment(ref: str) -> None:
    assert ExpRef.parse(ref) is None


def test_expref_refuses_short_baseline() -> None:
    with pytest.raises(ValueError, match="full lowercase SHA"):
        ExpRef("97a0748", "x")


# --- names --------------------------------------------------------------------------

GOOD = ["@", "lr02", "cronk-wont", "a.b", "exp_1", "x@y", "日本", "in-ner-"]
BAD = ["", "a/b", "a b", "a..b", ".hidden", "end.", "x.lock", "a~1", "a^", "a:b", "a?", "a*",
       "a[", "a\\b", "a@{1}", "tab\tx", "del\x7f"]  # fmt: skip


@pytest.mark.parametrize("name", GOOD)
def test_validate_name_accepts(name: str) -> None:
    assert validate_name(name) is None  # raises GitError for a bad name


@pytest.mark.parametrize("name", BAD)
def test_validate_name_rejects_and_says_what_to_do(name: str) -> None:
    with pytest.raises(GitError) as exc:
        validate_name(name)
    assert f"'{name}' is not a valid experiment name" in str(exc.value)
    assert "-n" in str(exc.value)


def test_leading_dash_is_refused_although_git_takes_it() -> None:
    """Ours, not Git's: a name starting with '-' would read as an option downstream."""
    with pytest.raises(GitError, match="starts with '-'"):
        validate_name("-lead")


@pytest.mark.parametrize("name", [n for n in GOOD + BAD if n and "/" not in n])
def test_validate_name_agrees_with_git_check_ref_format(name: str) -> None:
    proc = subprocess.run(
        ["git", "check-ref-format", ExpRef(B1, "x").ref[:-1] + name], capture_output=True
    )
    ours = True
    try:
        validate_name(name)
    except GitError:
        ours = False
    assert ours == (proc.returncode == 0)


# --- Git wrapper ----------------------------------------------------------------------


def test_git_error_names_command_stderr_and_what_to_do(git_repo: Path) -> None:
    with pytest.raises(GitError) as exc:
        Git(git_repo).run("rev-parse", "--verify", "no-such-rev")
    text = str(exc.value)
    assert "`git rev-parse --verify no-such-rev` failed in" in text
    assert str(git_repo) in text
    assert "fatal: Needed a single revision" in text
    assert "\n" not in text
    assert text.endswith("Fix what Git reports above, then retry.")


def test_git_queries(git_repo: Path) -> None:
    g = Git(git_repo)
    first = g.head_commit()
    second = _commit(git_repo, "a.txt", "a")
    assert g.rev_parse("HEAD~1") == first
    assert g.try_rev_parse("nope") is None
    assert g.current_branch() == "main"
    assert g.is_ancestor(first, second) and not g.is_ancestor(second, first)
    git(git_repo, "checkout", "-q", "--detach")
    assert g.current_branch() is None
    gen(git_repo, {"u.txt": "u"})
    assert g.status_porcelain() == "?? u.txt"


def test_rev_parse_unknown_and_empty_repo(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    with pytest.raises(GitError, match="has no commits yet. Make a first commit"):
        Git(tmp_path).head_commit()
    with pytest.raises(GitError, match="'v9' is not a commit in .* 'git log --oneline --all'"):
        Git(tmp_path).rev_parse("v9")


def test_update_ref_compare_and_swap(git_repo: Path) -> None:
    g = Git(git_repo)
    first = g.head_commit()
    second = _commit(git_repo, "a.txt", "a")
    g.update_ref("refs/exps/x/y", first, ZERO_SHA)
    with pytest.raises(GitError, match="Another process may have changed refs/exps/x/y"):
        g.update_ref("refs/exps/x/y", second, ZERO_SHA)  # exists already
    with pytest.raises(GitError):
        g.update_ref("refs/exps/x/y", second, second)  # stale expectation
    assert g.for_each_ref("refs/exps/") == [("refs/exps/x/y", first)]
    g.update_ref("refs/exps/x/y", second, first)
    with pytest.raises(GitError, match="No ref was changed"):
        g.update_refs([f"create refs/exps/x/z {first}", f"delete refs/exps/x/y {first}"])
    assert g.for_each_ref("refs/exps/") == [("refs/exps/x/y", second)]  # nothing changed
    g.delete_ref("refs/exps/x/y", second)
    assert g.for_each_ref("refs/exps/") == []


# --- listing and resolving ------------------------------------------------------------


def test_list_exp_refs_skips_dvc_state_and_filters_by_baseline(git_repo: Path) -> None:
    base1 = git(git_repo, "rev-parse", "HEAD")
    base2 = _commit(git_repo, "a.txt", "a")
    e1 = _exp(git_repo, base1, "one")
    e2 = _exp(git_repo, base2, "two")
    for state in ["exec/EXEC_HEAD", "apply/ORIG_HEAD", "celery/stash", "stash", "temp/head-x"]:
        git(git_repo, "update-ref", f"refs/exps/{state}", base1)
    expected = [(ExpRef(base1, "one"), e1), (ExpRef(base2, "two"), e2)]
    assert list_exp_refs(Git(git_repo)) == sorted(expected, key=lambda pair: pair[0].ref)
    assert list_exp_refs(Git(git_repo), base2) == [(ExpRef(base2, "two"), e2)]


def test_resolve_by_name_ref_and_commit(git_repo: Path) -> None:
    base = git(git_repo, "rev-parse", "HEAD")
    c1 = _exp(git_repo, base, "ck")
    c2 = _exp(git_repo, base, "ck2", parent=c1)  # a chain: c1 <- c2
    git(git_repo, "update-ref", ExpRef(base, "ck").ref, c2)
    g = Git(git_repo)
    exp = ExpRef(base, "ck")
    assert resolve_exp(g, "ck") == (exp, c2)
    assert resolve_exp(g, exp.ref) == (exp, c2)
    assert resolve_exp(g, c2[:8])[1] == c2
    assert resolve_exp(g, c1[:10]) == (exp, c1)  # a checkpoint inside the chain
    assert resolve_exp(g, "ck", baseline="HEAD") == (exp, c2)


def test_resolve_prefers_heads_baseline_then_reports_ambiguity(git_repo: Path) -> None:
    base1 = git(git_repo, "rev-parse", "HEAD")
    base2 = _commit(git_repo, "a.txt", "a")
    _exp(git_repo, base1, "same")
    e2 = _exp(git_repo, base2, "same")
    g = Git(git_repo)
    assert resolve_exp(g, "same") == (ExpRef(base2, "same"), e2)
    _commit(git_repo, "b.txt", "b")  # HEAD is now neither baseline
    with pytest.raises(GitError) as exc:
        resolve_exp(g, "same")
    text = str(exc.value)
    assert "experiment name 'same' is ambiguous" in text
    assert ExpRef(base1, "same").ref in text and ExpRef(base2, "same").ref in text
    assert "Pass the full ref instead of the name" in text
    assert resolve_exp(g, "same", baseline=base1)[0] == ExpRef(base1, "same")


def test_resolve_unknown_says_what_to_do(git_repo: Path) -> None:
    base = git(git_repo, "rev-parse", "HEAD")
    _exp(git_repo, base, "known")
    with pytest.raises(ExperimentNotFoundError) as exc:
        resolve_exp(Git(git_repo), "x")
    assert str(exc.value) == (
        "experiment 'x' not found. "
        "Run 'prefect-dvc exp list' to see the experiments of this commit."
    )
    with pytest.raises(ExperimentNotFoundError):
        resolve_exp(Git(git_repo), base)  # the baseline itself is no experiment
    with pytest.raises(ExperimentNotFoundError):
        resolve_exp(Git(git_repo), ExpRef(base, "other").ref)
