"""``.dvc`` files: read what real DVC 3.67.1 writes, write the same bytes back."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import gen, run_dvc

from prefect_dvc.dvcfile import (
    LEGACY_HASH,
    find_dvcfiles,
    format_dvcfile,
    is_dvcfile_name,
    load_dvcfile,
    out_entry,
)
from prefect_dvc.errors import SchemaError, YamlSyntaxError


@pytest.fixture(scope="module")
def added(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository where real DVC added a file, a folder and an executable."""
    root = tmp_path_factory.mktemp("added")
    gen(root, {"a.txt": "hi\n", "d/x": "x\n", "d/sub/y": "yy\n", "sub/run.sh": "echo\n"})
    (root / "sub/run.sh").chmod(0o755)
    run_dvc(root, "init", "--no-scm")
    run_dvc(root, "add", "a.txt", "d", "sub/run.sh")
    return root


def test_round_trip_of_what_dvc_add_writes_is_byte_identical(added: Path) -> None:
    for name in ("a.txt.dvc", "d.dvc", "sub/run.sh.dvc"):
        text = (added / name).read_text()
        tracked = load_dvcfile(added, name)
        (out,) = tracked.outs
        rebuilt = out_entry(out.path, out.md5, out.size, nfiles=out.nfiles, isexec=out.isexec)
        assert format_dvcfile({"outs": [rebuilt]}) == text, name


def test_reading_gives_repo_paths_hashes_and_dir_flag(added: Path) -> None:
    folder = load_dvcfile(added, "d.dvc").outs[0]
    assert folder.repo_path == "d" and folder.is_dir and folder.nfiles == 2
    assert folder.hash_name == "md5" and not folder.is_legacy
    script = load_dvcfile(added, "sub/run.sh.dvc")
    assert script.wdir == "sub" and script.outs[0].repo_path == "sub/run.sh"
    assert script.outs[0].isexec and not script.is_import


def test_find_dvcfiles_walks_like_dvcs_index(tmp_path: Path) -> None:
    gen(
        tmp_path,
        {
            "a.dvc": "outs: []\n",
            "x/b.csv.dvc": "outs: []\n",
            "ignored/c.dvc": "outs: []\n",
            ".dvcignore": "ignored/\n",
            "nested/.git/HEAD": "",
            "nested/n.dvc": "outs: []\n",
            ".dvc/config.dvc": "",
            "y/.dvc": "",
        },
    )
    assert find_dvcfiles(tmp_path) == ["a.dvc", "x/b.csv.dvc"]
    assert is_dvcfile_name("d/a.dvc") and not is_dvcfile_name("d/.dvc")


def test_dvc2_entries_are_legacy_and_written_back_without_hash(tmp_path: Path) -> None:
    text = "outs:\n- md5: 764efa883dda1e11db47671c4a3bbd9e\n  size: 3\n  path: a.txt\n"
    gen(tmp_path, {"a.txt.dvc": text})
    out = load_dvcfile(tmp_path, "a.txt.dvc").outs[0]
    assert out.hash_name == LEGACY_HASH
    assert format_dvcfile({"outs": [out_entry("a.txt", out.md5, 3, legacy=True)]}) == text


def test_an_update_keeps_comments_and_unknown_layout(tmp_path: Path) -> None:
    previous = (
        "# raw data, see README\n"
        "outs:\n- md5: 764efa883dda1e11db47671c4a3bbd9e\n  size: 3\n  hash: md5\n"
        "  path: a.txt  # the file\n  desc: raw\n"
    )
    new = {"outs": [out_entry("a.txt", "f" * 32, 4, flags={"desc": "raw"})]}
    text = format_dvcfile(new, previous)
    assert text.startswith("# raw data, see README\n")
    assert "- md5: ffffffffffffffffffffffffffffffff\n  size: 4\n" in text
    assert "path: a.txt  # the file\n" in text


@pytest.mark.parametrize(
    ("text", "error", "what"),
    [
        ("outs: [\n", YamlSyntaxError, "invalid YAML"),
        ("outz: []\n", SchemaError, "extra keys not allowed @ data['outz']"),
        ("outs:\n- md5: abc\n", SchemaError, "required key not provided @ data['outs'][0]['path']"),
        ("outs: {path: a}\n", SchemaError, "expected a list @ data['outs']"),
        ("outs:\n- path: a\n  colour: red\n", SchemaError, "data['outs'][0]['colour']"),
    ],
)
def test_bad_files_are_one_line_naming_the_file(
    tmp_path: Path, text: str, error: type[Exception], what: str
) -> None:
    gen(tmp_path, {"bad.dvc": text})
    with pytest.raises(error) as caught:
        load_dvcfile(tmp_path, "bad.dvc")
    message = str(caught.value)
    assert message.startswith("bad.dvc") and what in message and "\n" not in message
