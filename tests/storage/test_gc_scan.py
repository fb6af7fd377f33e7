"""What gc keeps: damaged ``dvc.lock``/``.dvc`` files are reported, and their fallbacks kept."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import gen, git

from prefect_dvc.storage.gc_scan import WORKSPACE, check_lock_text, scan_used
from prefect_dvc.storage.legacy import legacy_oid

A = "0cc175b9c0f1b6a831c399e269772661"
B = "92eb5ffee6ae2fec3ad71c777531578f"
C = "4a8a08f09d37b73795649038408b5f33"

LOCK_A = f"""\
schema: '2.0'
stages:
  s:
    cmd: cp in.txt out.txt
    deps:
    - path: in.txt
      hash: md5
      md5: {C}
      size: 2
    outs:
    - path: out.txt
      hash: md5
      md5: {A}
      size: 2
"""
LOCK_B = LOCK_A.replace(A, B)
DVCFILE = f"outs:\n- md5: {B}\n  size: 2\n  hash: md5\n  path: data.txt\n"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "is empty"),
        ("\n  \n", "is empty"),
        (LOCK_A[:150], "cut short"),
        (LOCK_A.split("    outs:")[0].replace("md5: " + C, ""), "without its hash"),
        ("schema: '2.0'\nstages: [\n", "not valid YAML"),
        ("- a\n- b\n", "not a mapping"),
        ("stages:\n  s:\n    cmd: x\n", "no schema '2.0'"),
        ("schema: '2.0'\n", "no schema '2.0' and 'stages'"),
        ("schema: '1.0'\nstages: {}\n", "no schema '2.0'"),
        ("schema: '2.0'\nstages:\n  s:\n    outs: []\n", "without its cmd"),
    ],
)
def test_a_damaged_lock_file_is_named_with_why(text: str, why: str) -> None:
    md5s, reason = check_lock_text(text, "lock")
    assert md5s == set()
    assert reason is not None and why in reason


@pytest.mark.parametrize("text", ["outs:\n", "outs: []\n", "md5: x\n", "outs:\n- path: d\n"])
def test_a_damaged_dvc_file_is_named(text: str) -> None:
    assert check_lock_text(text, "dvc")[1] is not None


def test_a_sound_lock_file_names_its_outs_and_deps() -> None:
    assert check_lock_text(LOCK_A, "lock") == ({A, C}, None)
    assert check_lock_text(DVCFILE, "dvc") == ({B}, None)


def test_an_empty_workspace_lock_keeps_head_and_what_the_cut_text_names(git_repo: Path) -> None:
    gen(git_repo, {"dvc.lock": LOCK_A, "data.txt.dvc": DVCFILE})
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "v1")
    sound = scan_used(git_repo, [])
    assert sound.md5s == {A, B, C} and sound.unreadable == ()

    (git_repo / "dvc.lock").write_text("")
    empty = scan_used(git_repo, [], workspace_extra=lambda: {"f" * 32})
    assert [(u.rev, u.path) for u in empty.unreadable] == [(WORKSPACE, "dvc.lock")]
    assert empty.md5s == {A, B, C, "f" * 32}, "HEAD's lock and the outs on disk are kept"

    (git_repo / "dvc.lock").write_text(LOCK_B[: LOCK_B.index(B) + 32])
    cut = scan_used(git_repo, [])
    assert "cut short" in cut.unreadable[0].why
    assert B in cut.md5s and A in cut.md5s, "what the cut text names, and HEAD's"


def test_a_damaged_file_in_a_kept_revision_is_reported_and_its_parent_kept(
    git_repo: Path,
) -> None:
    gen(git_repo, {"dvc.lock": LOCK_A})
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "v1")
    gen(git_repo, {"dvc.lock": "", "sub/data.txt.dvc": "outs:\n- path: data.txt\n"})
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "broken")
    rev = git(git_repo, "rev-parse", "HEAD")
    gen(git_repo, {"dvc.lock": LOCK_B, "sub/data.txt.dvc": DVCFILE})

    used = scan_used(git_repo, [rev])
    assert {(u.rev, u.path) for u in used.unreadable} == {
        (rev, "dvc.lock"),
        (rev, "sub/data.txt.dvc"),
    }
    assert {A, B, C} <= used.md5s


def test_a_git_ignored_dvcfile_and_a_no_download_import_keep_their_objects(
    git_repo: Path,
) -> None:
    # DVC's index reads .dvc files whatever Git ignores; gc must not drop their data.
    gen(git_repo, {".gitignore": "private/\n", "private/data.txt.dvc": DVCFILE})
    assert scan_used(git_repo, []).md5s == {B}
    # `dvc import-url --no-download` writes outs without a hash: sound, names nothing.
    no_download = "deps:\n- path: s3://b/x\nouts:\n- path: x\n  hash: md5\n"
    assert check_lock_text(no_download, "dvc") == (set(), None)
    assert check_lock_text("outs:\n- path: x\n", "dvc")[1] == "has an entry without its hash"


def test_a_dvc2_entry_without_hash_md5_still_keeps_its_object() -> None:
    # NOTE: kept under its DVC 2 object id (md5-dos2unix, DVC 2's cache layout).
    legacy = DVCFILE.replace("  hash: md5\n", "")
    assert check_lock_text(legacy, "dvc") == ({legacy_oid(B)}, None)
    lock = LOCK_A.replace("      hash: md5\n", "")
    assert check_lock_text(lock, "lock") == ({legacy_oid(A), legacy_oid(C)}, None)
