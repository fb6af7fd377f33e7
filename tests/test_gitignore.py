""".gitignore lines as DVC writes them: escaped, appended in plan order, none when ignored."""

from __future__ import annotations

import random
import threading
from pathlib import Path

from helpers import gen, git, run_dvc

from prefect_dvc.gitignore import (
    IgnoreChecker,
    IgnoreWriter,
    ensure_ignored,
    ignore_entry,
    is_ignored,
)


def test_lines_added_in_any_order_come_out_in_plan_order_after_existing_ones(
    git_repo: Path,
) -> None:
    gen(git_repo, {"out/.gitignore": "# mine\n/7.txt"})
    names = [f"gen@{i}" for i in range(1, 13)]
    writer = IgnoreWriter(git_repo, names)
    shuffled = names[:]
    random.Random(3).shuffle(shuffled)
    threads = [
        threading.Thread(target=writer.ignore_outs, args=(n, [f"out/{n[4:]}.txt"]))
        for n in shuffled
    ]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        writer.close()
    expected = "# mine\n/7.txt\n" + "".join(f"/{i}.txt\n" for i in range(1, 13) if i != 7)
    assert (git_repo / "out" / ".gitignore").read_text() == expected


def test_a_line_someone_else_appends_meanwhile_is_kept(git_repo: Path) -> None:
    writer = IgnoreWriter(git_repo, ["a", "b"])
    try:
        writer.ignore_outs("b", ["b.txt"])
        with open(git_repo / ".gitignore", "a") as handle:
            handle.write("/manual\n")
        writer.ignore_outs("a", ["a.txt"])
    finally:
        writer.close()
    assert (git_repo / ".gitignore").read_text() == "/manual\n/a.txt\n/b.txt\n"


def test_special_characters_are_escaped_as_dvc_does(git_repo: Path) -> None:
    assert ignore_entry(git_repo, "d/a[1]*#!?.txt") == (
        "/a\\[1\\]\\*\\#\\!\\?.txt",
        git_repo / "d" / ".gitignore",
    )


def test_nothing_is_written_for_a_path_git_already_ignores(git_repo: Path) -> None:
    gen(git_repo, {".gitignore": "models/\n*.log\n"})
    assert not ensure_ignored(git_repo, "models/model.pkl")
    assert not ensure_ignored(git_repo, "logs/run.log")
    assert not (git_repo / "models" / ".gitignore").exists()
    assert not (git_repo / "logs" / ".gitignore").exists()
    assert ensure_ignored(git_repo, "data/x.csv")
    assert (git_repo / "data" / ".gitignore").read_text() == "/x.csv\n"


def test_the_same_outs_give_the_same_gitignores_as_real_dvc(git_repo: Path, tmp_path: Path) -> None:
    names = ["a[1].txt", "b c.txt", "#c.txt", "!d.txt"]
    stages = "".join(
        f"  s{i}:\n    cmd: echo x > 'sub/{n}'\n    outs:\n    - 'sub/{n}'\n"
        for i, n in enumerate(names)
    )
    gen(git_repo, {"dvc.yaml": "stages:\n" + stages, ".gitignore": "*.log\n", "sub/k": "k"})
    done = run_dvc(git_repo, "repro")
    assert done.returncode == 0, done.stderr
    expected = (git_repo / "sub" / ".gitignore").read_bytes()
    ours = tmp_path / "ours"
    gen(ours, {".gitignore": "*.log\n", "sub/k": "k"})
    git(ours, "init", "-q")
    writer = IgnoreWriter(ours, [f"s{i}" for i in range(len(names))])
    try:
        for i in reversed(range(len(names))):
            writer.ignore_outs(f"s{i}", [f"sub/{names[i]}"])
    finally:
        writer.close()
    assert (ours / "sub" / ".gitignore").read_bytes() == expected


def test_checker_answers_like_git_and_nothing_is_ignored_outside_a_repository(
    git_repo: Path, tmp_path: Path
) -> None:
    gen(git_repo, {".gitignore": "*.log\n!keep.log\n/data/\n", "sub/.gitignore": "/x\n"})
    checker = IgnoreChecker(git_repo)
    try:
        paths = ["a.log", "keep.log", "data/f", "sub/x", "sub/y", "b.txt", "sub/z.log"]
        assert [checker(p) for p in paths] == [is_ignored(git_repo, p) for p in paths]
        assert [checker(p) for p in paths] == [True, False, True, True, False, False, True]
    finally:
        checker.close()
    outside = IgnoreChecker(tmp_path / "no-repo")
    (tmp_path / "no-repo").mkdir()
    assert outside("a.log") is False
    outside.close()
