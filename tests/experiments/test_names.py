"""Generated experiment names."""

from __future__ import annotations

import random
import re
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
