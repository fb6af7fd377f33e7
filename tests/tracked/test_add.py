"""``prefect-dvc add`` against real ``dvc add`` 3.67.1 on twin repositories."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from helpers import gen
from tracked_twins import cache_listing, dvc, hint_paths, hint_shape, make_repo, pd, tree_state

FILES = {
    "data/data.xml": "<xml>1</xml>\n",
    "images/a.png": b"\x89PNG\x00\x01",
    "images/sub/b.png": b"\x89PNG\x00\x02",
    "images/sub/deeper/c.txt": "c\n",
    "run.sh": "#!/bin/sh\necho hi\n",
    "odd[1] name.txt": "odd\n",
    "nested/folder/file.csv": "a,b\n1,2\n",
}
TARGETS = ("data/data.xml", "images", "run.sh", "odd[1] name.txt")


def _twins(base: Path, config: str = "") -> tuple[Path, Path]:
    twins = []
    for name in ("dvc", "ours"):
        root = make_repo(base / name / "repo", FILES, config)
        os.chmod(root / "run.sh", 0o755)
        twins.append(root)
    return twins[0], twins[1]


@pytest.fixture(scope="module")
def added(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Both twins after adding TARGETS at the root and a nested file from its folder."""
    theirs, ours = _twins(tmp_path_factory.mktemp("add"))
    results = {}
    for who, root, tool in (("dvc", theirs, dvc), ("ours", ours, pd)):
        first = tool(root, "add", *TARGETS)
        nested = tool(root / "nested" / "folder", "add", "file.csv")
        results[who] = (first, nested)
    return {"theirs": theirs, "ours": ours, "results": results}


def test_add_writes_dvc_files_gitignores_and_cache_as_dvc(added: dict) -> None:
    theirs, ours = added["theirs"], added["ours"]
    for who in ("dvc", "ours"):
        first, nested = added["results"][who]
        assert (first.returncode, nested.returncode) == (0, 0), (who, first.stderr, nested.stderr)
    # every file in the workspace, .dvc files and .gitignores included: bytes and modes
    assert tree_state(ours) == tree_state(theirs)
    assert (ours / "images.dvc").read_text().startswith("outs:\n- md5: ")
    assert cache_listing(ours) == cache_listing(theirs)
    assert all(mode == 0o444 for mode in cache_listing(ours).values())


def test_add_prints_dvcs_git_add_hint(added: dict) -> None:
    (first_d, nested_d), (first_o, nested_o) = added["results"]["dvc"], added["results"]["ours"]
    assert hint_shape(first_o.stdout) == hint_shape(first_d.stdout)
    assert hint_paths(first_o.stdout) == hint_paths(first_d.stdout)
    # from a sub-folder the paths are relative to it
    assert (
        hint_paths(nested_o.stdout)
        == hint_paths(nested_d.stdout)
        == {
            "file.csv.dvc",
            ".gitignore",
        }
    )
    assert "'odd[1] name.txt.dvc'" in first_o.stdout


def test_real_dvc_agrees_with_what_add_wrote(added: dict) -> None:
    ours = added["ours"]
    status = dvc(ours, "status")
    assert status.returncode == 0, status.stderr
    assert status.stdout.strip() == "Data and pipelines are up to date."
    (ours / "images" / "a.png").unlink()
    checkout = dvc(ours, "checkout")
    assert checkout.returncode == 0, checkout.stderr
    assert (ours / "images" / "a.png").read_bytes() == FILES["images/a.png"]


@pytest.mark.parametrize("kind", ["hardlink", "symlink"])
def test_cache_type_links_like_dvc(tmp_path: Path, kind: str) -> None:
    theirs, ours = _twins(tmp_path, f"[cache]\n    type = {kind}\n")
    for root, tool in ((theirs, dvc), (ours, pd)):
        done = tool(root, "add", "data/data.xml", "images")
        assert done.returncode == 0, done.stderr
    for rel in ("data/data.xml", "images/sub/b.png"):
        mine, dvcs = ours / rel, theirs / rel
        assert mine.is_symlink() == dvcs.is_symlink()
        assert mine.read_bytes() == dvcs.read_bytes()
        obj = ours / ".dvc/cache/files/md5" / _oid(ours, mine)
        assert os.path.samefile(mine, obj) == os.path.samefile(dvcs, theirs / obj.relative_to(ours))
        assert stat.S_IMODE(os.lstat(mine).st_mode) == stat.S_IMODE(os.lstat(dvcs).st_mode)
    assert (ours / "data/data.xml.dvc").read_bytes() == (theirs / "data/data.xml.dvc").read_bytes()


def _oid(root: Path, path: Path) -> str:
    import hashlib

    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    return f"{md5[:2]}/{md5[2:]}"


def test_re_add_after_change_keeps_comments_and_desc(tmp_path: Path) -> None:
    theirs, ours = _twins(tmp_path)
    for root, tool in ((theirs, dvc), (ours, pd)):
        assert tool(root, "add", "data/data.xml", "images").returncode == 0
        text = (root / "data/data.xml.dvc").read_text()
        desc = text.replace("  path: data.xml\n", "  path: data.xml\n  desc: the raw dump\n")
        (root / "data/data.xml.dvc").write_text("# raw data, do not edit\n" + desc)
        gen(root, {"data/data.xml": "<xml>2</xml>\n", "images/new.png": b"\x00new"})
        again = tool(root, "add", "data/data.xml", "images")
        assert again.returncode == 0, again.stderr
    for rel in ("data/data.xml.dvc", "images.dvc"):
        assert (ours / rel).read_bytes() == (theirs / rel).read_bytes()
    assert "# raw data, do not edit" in (ours / "data/data.xml.dvc").read_text()
    assert cache_listing(ours) == cache_listing(theirs)


def test_dvc_added_files_are_re_added_by_us_to_the_same_bytes(tmp_path: Path) -> None:
    theirs, ours = _twins(tmp_path)
    for root in (theirs, ours):
        assert dvc(root, "add", "images", "data/data.xml").returncode == 0
        gen(root, {"images/sub/b.png": b"changed"})
    assert dvc(theirs, "add", "images").returncode == 0
    mine = pd(ours, "add", "images")
    assert mine.returncode == 0, mine.stderr
    assert (ours / "images.dvc").read_bytes() == (theirs / "images.dvc").read_bytes()
    assert hint_paths(mine.stdout) == {"images.dvc"}


def test_add_inside_a_tracked_directory_updates_its_entry(tmp_path: Path) -> None:
    theirs, ours = _twins(tmp_path)
    for root, tool in ((theirs, dvc), (ours, pd)):
        assert tool(root, "add", "images").returncode == 0
        gen(root, {"images/new.png": b"n", "images/a.png": b"changed, not re-added"})
        done = tool(root, "add", "images/new.png")
        assert done.returncode == 0, done.stderr
        assert not (root / "images/new.png.dvc").exists()
    assert (ours / "images.dvc").read_bytes() == (theirs / "images.dvc").read_bytes()
    assert dvc(ours, "status").stdout == dvc(theirs, "status").stdout


def test_add_out_and_glob_like_dvc(tmp_path: Path) -> None:
    theirs, ours = _twins(tmp_path)
    for root, tool in ((theirs, dvc), (ours, pd)):
        to_out = tool(root, "add", "-o", "copy.xml", "data/data.xml")
        assert to_out.returncode == 0, to_out.stderr
        globbed = tool(root, "add", "--glob", "images/sub/*.png")
        assert globbed.returncode == 0, globbed.stderr
        exists = tool(root, "add", "-o", "copy.xml", "run.sh")
        assert exists.returncode == 1
        assert "The file 'copy.xml' already exists locally." in exists.stderr
    assert tree_state(ours) == tree_state(theirs)
    assert (ours / "data/data.xml").read_text() == FILES["data/data.xml"]  # the source stays
    assert (ours / "copy.xml.dvc").is_file() and (ours / "images/sub/b.png.dvc").is_file()


def test_autostage_stages_what_dvc_stages(tmp_path: Path) -> None:
    from helpers import git

    theirs, ours = _twins(tmp_path, "[core]\n    autostage = true\n")
    for root, tool in ((theirs, dvc), (ours, pd)):
        done = tool(root, "add", "data/data.xml", "images")
        assert done.returncode == 0, done.stderr
        assert "git add" not in done.stdout
    staged = [git(r, "diff", "--cached", "--name-only").split() for r in (ours, theirs)]
    assert (
        sorted(staged[0])
        == sorted(staged[1])
        == [
            ".gitignore",
            "data/.gitignore",
            "data/data.xml.dvc",
            "images.dvc",
        ]
    )
