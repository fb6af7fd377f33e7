"""Generated experiment names."""

from __future__ import annotations

import random
import re
import subprocess
from pathlib import Path

import pytest
from helpers import git

from prefect_dvc.errors import GitError
from prefect_dvc.experiments import names
from prefect_dvc.experiments.git import Git
from prefect_dvc.experiments.names import ADJECTIVES, NOUNS, generate_name, new_name_for
from prefect_dvc.experiments.refs import ExpRef, validate_name

NAME = re.compile(r"[a-z]{5}-[a-z]{4}\Z")


def test_word_lists_are_big_plain_and_unique() -> None:
    assert len(ADJECTIVES) >= 300 and len(NOUNS) >= 300
    assert len(set(ADJECTIVES)) == len(ADJECTIVES) and len(set(NOUNS)) == len(NOUNS)
    assert all(re.fullmatch(r"[a-z]{5}", w) for w in ADJECTIVES)
    assert all(re.fullmatch(r"[a-z]{4}", w) for w in NOUNS)


def test_generated_name_has_dvcs_shape_and_is_a_valid_ref_name() -> None:
    for _ in range(50):
        name = generate_name(lambda _: False)
        assert NAME.match(name), name
        validate_name(name)


def test_generate_retries_until_a_name_is_free() -> None:
    asked: list[str] = []

    def taken(name: str) -> bool:
        asked.append(name)
        return len(asked) <= 5

    name = generate_name(taken)
    assert len(asked) == 6 and name == asked[-1]


def test_global_seed_does_not_fix_the_names() -> None:
    random.seed(1234)
    first = [generate_name(lambda _: False) for _ in range(5)]
    random.seed(1234)
    second = [generate_name(lambda _: False) for _ in range(5)]
    assert first != second


def test_every_name_taken_is_an_error_with_a_way_out() -> None:
    calls = []
    with pytest.raises(GitError) as exc:
        generate_name(lambda n: calls.append(n) is None)
    assert len(calls) == names.MAX_ATTEMPTS
    assert str(exc.value) == (
        f"no free experiment name found after {names.MAX_ATTEMPTS} tries. "
        "Name the experiment yourself with -n NAME."
    )


def test_new_name_for_avoids_the_baselines_existing_names(git_repo: Path) -> None:
    base = git(git_repo, "rev-parse", "HEAD")
    # NOTE: occupy 10,000 names (7.6% of all) as packed refs; a generator that
    # ignored them would hit one in 25 draws 86% of the time. The retry itself
    # is pinned deterministically by test_generate_retries_until_a_name_is_free.
    taken = sorted({f"{a}-{n}" for a in ADJECTIVES[:40] for n in NOUNS[:250]})
    lines = sorted(f"{base} {ExpRef(base, name).ref}" for name in taken)
    (git_repo / ".git" / "packed-refs").write_text(
        "# pack-refs with: peeled fully-peeled sorted \n" + "\n".join(lines) + "\n"
    )
    assert len(Git(git_repo).for_each_ref("refs/exps/")) == 10_000
    drawn = {new_name_for(Git(git_repo), base) for _ in range(25)}
    assert not drawn & set(taken)
    assert all(NAME.match(n) for n in drawn)


BAD_NAMES = {
    "a" * 300: "bytes long",
    "é" * 101: "bytes long",
    "a..b": "'..'",
    "a@{1}": "'@{'",
    "exp.lock": "'.lock'",
    "tab\there": "'\\t'",
    "bell\x07": "'\\x07'",
    "del\x7f": "'\\x7f'",
    "til~de": "'~'",
    "ca^ret": "'^'",
    "co:lon": "':'",
    "quest?": "'?'",
    "st*r": "'*'",
    "br[acket": "'['",
    "back\\slash": "'\\\\'",
    "-leading": "starts with '-'",
    "--upload-pack=touch X;true": "starts with '-'",
    ".hidden": "starts with '.'",
    "trailing.": "ends with '.'",
    "sl/ash": "'/'",
    "": "empty",
}


@pytest.mark.parametrize("name", list(BAD_NAMES), ids=range(len(BAD_NAMES)))
def test_bad_names_are_refused_with_one_line(name: str) -> None:
    with pytest.raises(GitError) as exc:
        validate_name(name)
    text = str(exc.value)
    assert BAD_NAMES[name] in text
    assert "\n" not in text and len(text) < 300


@pytest.mark.parametrize(
    "name",
    [
        n
        for n in BAD_NAMES
        if n and not n.startswith("-") and "/" not in n and n != "é" * 101  # ours: margin
    ],
)
def test_git_itself_refuses_what_we_refuse_for_its_own_reasons(git_repo: Path, name: str) -> None:
    """Every rule but length, '-' and '/' is Git's: check-ref-format agrees."""
    if len(name.encode()) > names_max():
        # NOTE: git accepts the name, but the loose ref file cannot be written.
        base = git(git_repo, "rev-parse", "HEAD")
        proc = subprocess.run(
            ["git", "update-ref", f"refs/exps/{base[:2]}/{base[2:]}/{name}", base],
            cwd=git_repo,
            capture_output=True,
        )
        assert proc.returncode != 0
        return
    proc = subprocess.run(
        ["git", "check-ref-format", f"refs/exps/ab/cd/{name}"], capture_output=True
    )
    assert proc.returncode != 0


def names_max() -> int:
    from prefect_dvc.experiments.refs import MAX_NAME_BYTES

    return MAX_NAME_BYTES


def test_longest_allowed_name_becomes_a_ref_and_a_branch(git_repo: Path) -> None:
    base = git(git_repo, "rev-parse", "HEAD")
    name = "n" * names_max()
    validate_name(name)
    ref = ExpRef(base, name).ref
    git(git_repo, "update-ref", ref, base)
    git(git_repo, "branch", f"{name}-branch", base)
    assert git(git_repo, "rev-parse", ref) == base
