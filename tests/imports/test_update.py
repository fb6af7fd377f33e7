"""``update`` of ``import-url`` and ``import`` files, and frozen imports under ``repro``,
compared with real DVC 3.67.1."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import dvc_python, gen, git, run_dvc

from prefect_dvc.errors import (
    ImportSourceError,
    PrefectDvcError,
    UnsafePathError,
    UnsavedChangesError,
)
from prefect_dvc.execution import RunOptions, open_executor
from prefect_dvc.imports.repo import ImportOptions, import_repo
from prefect_dvc.imports.update import UpdateOptions, update_imports
from prefect_dvc.imports.url import ImportUrlOptions, import_url
from prefect_dvc.translators import load_pipeline

pytestmark = pytest.mark.dvc_interop

_DVC = """
import json, sys
from dvc.repo import Repo
repo = Repo(".")
for kind, args, kwargs in json.loads(sys.argv[1]):
    getattr(repo, kind)(*args, **kwargs)
"""


def _dvc_api(root: Path, calls: list[tuple[str, list, dict]]) -> None:
    """Real DVC's Python API calls (``Repo.<kind>(*args, **kwargs)``) in one process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    done = subprocess.run(
        [dvc_python(), "-c", _DVC, json.dumps(calls)],
        cwd=root, capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def _new_repo(path: Path) -> Path:
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    done = run_dvc(path, "init", "-q")
    assert done.returncode == 0, done.stderr
    return path


def _twin_of(repo: Path, path: Path) -> Path:
    """A copy of the fresh repository ``repo`` (one ``dvc init`` serves both twins)."""
    shutil.copytree(repo, path, symlinks=True)
    return path


def _source_repo(base: Path) -> Path:
    src = base / "src"
    src.mkdir()
    git(src, "init", "-q", "-b", "main")
    gen(src, {"data/f.txt": "abc\n"})
    assert run_dvc(src, "init", "-q").returncode == 0
    _dvc_api(src, [("add", ["data/f.txt"], {})])
    git(src, "add", "-A")
    git(src, "commit", "-q", "-m", "v1")
    return src


def _change_sources(base: Path) -> None:
    gen(base, {"u.txt": "v2\n", "d/new": "n"})
    src = base / "src"
    gen(src, {"data/f.txt": "changed\n"})
    _dvc_api(src, [("add", ["data/f.txt"], {})])
    git(src, "commit", "-q", "-am", "v2")


@pytest.fixture(scope="module")
def twin(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, bool]]:
    """Ours and DVC's after the same imports, source changes and updates.

    Returns (ours, theirs, {dvc file: whether our update rewrote it}).
    """
    base = tmp_path_factory.mktemp("update-twin")
    gen(base, {"u.txt": "v1\n", "same.txt": "same\n", "d/1": "x"})
    _source_repo(base)
    theirs = _new_repo(base / "theirs")
    ours = _twin_of(theirs, base / "ours")
    urls = [("../u.txt", "c"), ("../d", "dd"), ("../same.txt", "s"), ("../u.txt", "n")]
    for url, out in urls:
        import_url(ours, url, out, ImportUrlOptions(), cwd=ours)
    import_repo(ours, "../src", "data/f.txt", ImportOptions(out="a"), cwd=ours)
    _dvc_api(
        theirs,
        [("imp_url", [url, out], {}) for url, out in urls]
        + [("imp", ["../src", "data/f.txt"], {"out": "a"})],
    )
    for root in (ours, theirs):
        with open(root / "c.dvc", "a") as fobj:
            fobj.write("# kept by update\n")
    _change_sources(base)
    changed = {}
    for options, names in (
        (UpdateOptions(), ["c.dvc", "dd.dvc", "s.dvc"]),
        (UpdateOptions(rev="main"), ["a.dvc"]),
        (UpdateOptions(no_download=True), ["n.dvc"]),
    ):
        for result in update_imports(ours, names, options, cwd=ours):
            changed[result.dvcfile] = result.changed
    _dvc_api(
        theirs,
        [
            ("update", [["c.dvc", "dd.dvc", "s.dvc"]], {}),
            ("update", [["a.dvc"]], {"rev": "main"}),
            ("update", [["n.dvc"]], {"no_download": True}),
        ],
    )
    return ours, theirs, changed


@pytest.mark.parametrize("name", ["c.dvc", "dd.dvc", "s.dvc", "a.dvc", "n.dvc"])
def test_updated_file_is_byte_for_byte_dvcs(twin: tuple[Path, Path, dict], name: str) -> None:
    ours, theirs, _ = twin
    assert (ours / name).read_bytes() == (theirs / name).read_bytes()


def test_update_rewrites_only_what_changed_and_refreshes_the_workspace(
    twin: tuple[Path, Path, dict],
) -> None:
    ours, theirs, changed = twin
    assert changed == {"c.dvc": True, "dd.dvc": True, "s.dvc": False, "a.dvc": True, "n.dvc": True}
    assert (ours / "c").read_text() == "v2\n"
    assert (ours / "dd" / "new").read_text() == "n"
    assert (ours / "a").read_text() == "changed\n"
    # --no-download: the new source is recorded, not fetched; the stale out goes, as in DVC
    assert not (ours / "n").exists() and not (theirs / "n").exists()
    assert "v1" not in (ours / "n.dvc").read_text()
    assert (ours / "c.dvc").read_text().endswith("# kept by update\n")
    for name in ("c", "a", "dd/new", "dd/1", "s"):
        assert (ours / name).read_bytes() == (theirs / name).read_bytes()


def test_real_dvc_update_finds_nothing_left_to_do(twin: tuple[Path, Path, dict]) -> None:
    ours, _, _ = twin
    before = {n: (ours / n).read_bytes() for n in ("c.dvc", "dd.dvc", "s.dvc", "a.dvc")}
    done = run_dvc(ours, "update", "c.dvc", "dd.dvc", "s.dvc", "a.dvc")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("didn't change, skipping") == 4
    assert {n: (ours / n).read_bytes() for n in before} == before


def test_update_refuses_what_is_not_an_import(git_repo: Path) -> None:
    entry = "- md5: 0123456789abcdef0123456789abcdef\n  hash: md5\n  path: x.txt\n"
    gen(git_repo, {"x.txt.dvc": "outs:\n" + entry})
    with pytest.raises(PrefectDvcError, match="'x.txt.dvc' is not an import"):
        update_imports(git_repo, ["x.txt.dvc"], UpdateOptions(), cwd=git_repo)
    with pytest.raises(PrefectDvcError, match="'nothing.dvc' does not exist"):
        update_imports(git_repo, ["nothing.dvc"], UpdateOptions(), cwd=git_repo)


def test_frozen_import_is_never_refreshed_by_repro(git_repo: Path, tmp_path: Path) -> None:
    gen(tmp_path, {"raw.csv": "a\n1\n"})
    import_url(git_repo, str(tmp_path / "raw.csv"), "raw.csv", ImportUrlOptions(), cwd=git_repo)
    stage = "  copy:\n    cmd: cp raw.csv copy.csv\n    deps: [raw.csv]\n    outs: [copy.csv]\n"
    gen(git_repo, {"dvc.yaml": "stages:\n" + stage})
    executor = open_executor(git_repo, load_pipeline(git_repo))
    try:
        executor.run("copy", RunOptions(), lambda _: None)
    finally:
        executor.close()
    assert (git_repo / "copy.csv").read_text() == "a\n1\n"
    imported = (git_repo / "raw.csv.dvc").read_bytes()
    gen(tmp_path, {"raw.csv": "a\n2\n"})  # the source moves on

    executor = open_executor(git_repo, load_pipeline(git_repo))
    try:
        assert not executor.status("copy").changes
    finally:
        executor.close()
    assert (git_repo / "raw.csv.dvc").read_bytes() == imported
    assert (git_repo / "raw.csv").read_text() == "a\n1\n"
    done = run_dvc(git_repo, "status", "raw.csv.dvc")
    assert done.returncode == 0 and "up to date" in done.stdout


def test_update_never_replaces_an_out_changed_in_the_workspace(
    git_repo: Path, tmp_path: Path
) -> None:
    gen(tmp_path, {"raw.csv": "a\n1\n"})
    import_url(git_repo, str(tmp_path / "raw.csv"), "raw.csv", ImportUrlOptions(), cwd=git_repo)
    recorded = (git_repo / "raw.csv.dvc").read_bytes()
    gen(tmp_path, {"raw.csv": "a\n2\n"})
    gen(git_repo, {"raw.csv": "my own edit\n"})
    with pytest.raises(UnsavedChangesError, match="'raw.csv' was changed in the workspace"):
        update_imports(git_repo, ["raw.csv.dvc"], UpdateOptions(), cwd=git_repo)
    assert (git_repo / "raw.csv").read_text() == "my own edit\n"
    assert (git_repo / "raw.csv.dvc").read_bytes() == recorded


def test_update_restores_a_deleted_out_without_touching_the_file(
    git_repo: Path, tmp_path: Path
) -> None:
    gen(tmp_path, {"raw.csv": "a\n1\n"})
    import_url(git_repo, str(tmp_path / "raw.csv"), "raw.csv", ImportUrlOptions(), cwd=git_repo)
    recorded = (git_repo / "raw.csv.dvc").read_bytes()
    (git_repo / "raw.csv").unlink()
    [result] = update_imports(git_repo, ["raw.csv"], UpdateOptions(), cwd=git_repo)
    assert result.changed and (git_repo / "raw.csv").read_text() == "a\n1\n"
    assert (git_repo / "raw.csv.dvc").read_bytes() == recorded


@pytest.mark.parametrize(
    ("out", "said"),
    [("../outside.txt", "outside the repository"), (".git/hooks/post-checkout", "inside '.git'")],
)
def test_update_refuses_an_out_it_may_not_write(
    git_repo: Path, tmp_path: Path, out: str, said: str
) -> None:
    gen(tmp_path, {"raw.csv": "a\n"})
    text = (
        f"frozen: true\ndeps:\n- path: {tmp_path / 'raw.csv'}\nouts:\n- hash: md5\n  path: {out}\n"
    )
    gen(git_repo, {"evil.dvc": text})
    with pytest.raises(UnsafePathError, match=said):
        update_imports(git_repo, ["evil.dvc"], UpdateOptions(), cwd=git_repo)
    assert (git_repo / "evil.dvc").read_text() == text
    assert not (git_repo / ".git/hooks/post-checkout").exists()
    assert not (git_repo.parent / "outside.txt").exists()


def test_update_of_an_unsupported_url_is_one_line(git_repo: Path) -> None:
    text = (
        "frozen: true\ndeps:\n- etag: x\n  path: gs://b/f.csv\nouts:\n- hash: md5\n  path: f.csv\n"
    )
    gen(git_repo, {"f.csv.dvc": text})
    with pytest.raises(ImportSourceError, match="unsupported URL type 'gs://'"):
        update_imports(git_repo, ["f.csv.dvc"], UpdateOptions(), cwd=git_repo)
    assert (git_repo / "f.csv.dvc").read_text() == text and not (git_repo / "f.csv").exists()


def test_recursive_update_takes_every_import_under_a_folder(git_repo: Path, tmp_path: Path) -> None:
    gen(tmp_path, {"a.csv": "a1\n", "b.csv": "b1\n"})
    gen(git_repo, {"data/added.txt.dvc": "outs:\n- md5: 0123456789abcdef0123456789abcdef\n"
                   "  hash: md5\n  path: added.txt\n"})  # fmt: skip
    for name in ("a.csv", "b.csv"):
        import_url(git_repo, str(tmp_path / name), f"data/{name}", ImportUrlOptions(), cwd=git_repo)
    import_url(git_repo, str(tmp_path / "a.csv"), "top.csv", ImportUrlOptions(), cwd=git_repo)
    gen(tmp_path, {"a.csv": "a2\n"})

    results = update_imports(git_repo, ["data"], UpdateOptions(recursive=True), cwd=git_repo)

    assert [(r.dvcfile, r.changed) for r in results] == [
        ("data/a.csv.dvc", True),
        ("data/b.csv.dvc", False),
    ]
    assert (git_repo / "data/a.csv").read_text() == "a2\n"
    assert (git_repo / "top.csv").read_text() == "a1\n"  # outside the folder: not updated
