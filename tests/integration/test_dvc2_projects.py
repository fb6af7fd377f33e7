"""Projects DVC 2 last ran: DVC 3.67.1's verdict on a twin is the expected value.

One project is reproduced by real DVC once per module and turned into what
DVC 2 would have left (``tests/dvc2.py``: legacy ``md5`` items without
``hash``, objects in ``.dvc/cache/<h[:2]>/<h[2:]>``). Each test copies it,
changes something, and asks real DVC and prefect-dvc the same question.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from dvc2 import to_dvc2
from helpers import gen, git, run_dvc

PREPARE = (
    "mkdir -p prep && cp data.csv prep/a.csv && cp bin.dat prep/b.dat"
    " && printf 'x\\r\\ny\\r\\n' > out.txt"
)
TRAIN = (
    "cat prep/a.csv out.txt > model.txt && printf 'step,loss\\r\\n0,1\\r\\n1,0.5\\r\\n' > loss.csv"
)
PROJECT = {
    "data.csv": b"a,b\r\n1,2\r\n",
    "bin.dat": bytes(range(256)) * 4 + b"\r\n",
    "dvc.yaml": (
        "stages:\n"
        "  prepare:\n"
        f"    cmd: {PREPARE}\n"
        "    deps: [data.csv, bin.dat]\n"
        "    outs: [prep, out.txt]\n"
        "  train:\n"
        f"    cmd: {TRAIN}\n"
        "    deps: [prep, out.txt]\n"
        "    outs: [model.txt]\n"
        "    plots: [loss.csv]\n"
    ),
}


def _write(rel: str, data: bytes) -> Callable[[Path], None]:
    return lambda root: (root / rel).write_bytes(data)


def _remove(*rels: str) -> Callable[[Path], None]:
    def run(root: Path) -> None:
        for rel in rels:
            path = root / rel
            shutil.rmtree(path) if path.is_dir() else path.unlink()

    return run


ROWS: dict[str, Callable[[Path], None]] = {
    "unchanged": lambda root: None,
    "legacy-dep-modified": _write("data.csv", b"a,b\r\n1,3\r\n"),
    # NOTE: the legacy hash ignores CRLF -> LF in a text file: still up to date.
    "text-dep-crlf-to-lf": _write("data.csv", b"a,b\n1,2\n"),
    "binary-dep-crlf-to-lf": _write("bin.dat", bytes(range(256)) * 4 + b"\n"),
    "legacy-out-deleted": _remove("out.txt"),
    "legacy-dir-file-modified": _write("prep/a.csv", b"changed\r\n"),
    "legacy-dir-file-added": _write("prep/new.txt", b"new\n"),
    "legacy-cache-emptied": _remove(".dvc/cache"),
}


@pytest.fixture(scope="module")
def dvc2_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A committed project as DVC 2 left it (reproduced by DVC 3, rewritten in DVC 2 form)."""
    root = tmp_path_factory.mktemp("dvc2") / "repo"
    root.mkdir()
    git(root, "init", "-q")
    assert run_dvc(root, "init", "-q").returncode == 0
    gen(root, PROJECT)
    done = run_dvc(root, "repro")
    assert done.returncode == 0, done.stderr
    to_dvc2(root)
    git(root, "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "dvc2")
    return root


def _twins(src: Path, tmp_path: Path, change: Callable[[Path], None]) -> tuple[Path, Path]:
    """Two copies of ``src`` with ``change`` applied: one for DVC, one for us."""
    pair = []
    for name in ("theirs", "ours"):
        root = tmp_path / name
        shutil.copytree(src, root, symlinks=True)
        change(root)
        pair.append(root)
    return pair[0], pair[1]


@pytest.mark.parametrize("row", list(ROWS))
def test_status_matches_dvc(dvc2_project: Path, tmp_path: Path, cli, row: str) -> None:
    """Text and JSON, byte for byte, and nothing in the workspace is touched."""
    theirs, ours = _twins(dvc2_project, tmp_path, ROWS[row])
    text, as_json = run_dvc(theirs, "status"), run_dvc(theirs, "status", "--json")
    lock = (ours / "dvc.lock").read_bytes()
    got_text, got_json = cli(ours, "status"), cli(ours, "status", "--json")
    assert (got_text.code, got_text.out) == (text.returncode, text.stdout)
    assert json.loads(got_json.out) == json.loads(as_json.stdout)
    assert (ours / "dvc.lock").read_bytes() == lock


@pytest.mark.parametrize("row", ["unchanged", "text-dep-crlf-to-lf", "legacy-dep-modified"])
def test_repro_reruns_and_locks_what_dvc_does(
    dvc2_project: Path, tmp_path: Path, cli, row: str
) -> None:
    """Unchanged legacy items keep their DVC 2 form; changed ones become ``hash: md5``."""
    theirs, ours = _twins(dvc2_project, tmp_path, ROWS[row])
    before = (ours / "dvc.lock").read_bytes()
    done = run_dvc(theirs, "repro")
    assert done.returncode == 0, done.stderr
    result = cli(ours, "repro")
    assert result.code == 0, result.err
    assert (ours / "dvc.lock").read_bytes() == (theirs / "dvc.lock").read_bytes()
    ran = "Running stage" in result.out + result.err
    assert ran == ("Running stage" in done.stdout)
    if row != "legacy-dep-modified":
        assert (ours / "dvc.lock").read_bytes() == before
    for rel in ("prep/a.csv", "prep/b.dat", "out.txt", "model.txt"):
        assert (ours / rel).read_bytes() == (theirs / rel).read_bytes()
    assert json.loads(run_dvc(ours, "status", "--json").stdout) == {}


def test_checkout_restores_from_the_dvc2_cache(dvc2_project: Path, tmp_path: Path, cli) -> None:
    """Deleted outs come back from ``.dvc/cache/<h[:2]>/...``; an unchanged CRLF out stays."""
    theirs, ours = _twins(dvc2_project, tmp_path, _remove("prep", "model.txt"))
    assert run_dvc(theirs, "checkout").returncode == 0
    result = cli(ours, "checkout")
    assert result.code == 0, result.err
    for rel in ("prep/a.csv", "prep/b.dat", "out.txt", "model.txt"):
        assert (ours / rel).read_bytes() == (theirs / rel).read_bytes()
    assert (ours / "dvc.lock").read_bytes() == (dvc2_project / "dvc.lock").read_bytes()
    assert run_dvc(ours, "status").stdout == "Data and pipelines are up to date.\n"


def _listing(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_push_and_pull_use_dvc2_remote_layout(dvc2_project: Path, tmp_path: Path, cli) -> None:
    """Our push fills a remote as ``dvc push`` does; each tool pulls what the other pushed."""
    theirs, ours = _twins(dvc2_project, tmp_path, lambda root: None)
    assert run_dvc(theirs, "remote", "add", "-d", "r", str(tmp_path / "r-dvc")).returncode == 0
    assert run_dvc(theirs, "push").returncode == 0
    assert cli(ours, "remote", "add", "-d", "r", str(tmp_path / "r-ours")).code == 0
    pushed = cli(ours, "push")
    assert pushed.code == 0, pushed.err
    assert _listing(tmp_path / "r-ours") == _listing(tmp_path / "r-dvc")
    assert not (tmp_path / "r-ours" / "files").exists()
    for tool, remote in (("ours", "r-dvc"), ("dvc", "r-ours")):
        clone = tmp_path / f"clone-{tool}"
        git(tmp_path, "clone", "-q", str(dvc2_project), str(clone))
        url = str(tmp_path / remote)
        if tool == "ours":
            assert cli(clone, "remote", "add", "-d", "r", url).code == 0
            assert cli(clone, "pull").code == 0
        else:
            assert run_dvc(clone, "remote", "add", "-d", "r", url).returncode == 0
            assert run_dvc(clone, "pull").returncode == 0
        assert (clone / "prep" / "a.csv").read_bytes() == b"a,b\r\n1,2\r\n"
        assert run_dvc(clone, "status").stdout == "Data and pipelines are up to date.\n"


def test_gc_keeps_used_legacy_objects_as_dvc(dvc2_project: Path, tmp_path: Path, cli) -> None:
    def junk(root: Path) -> None:
        gen(
            root,
            {".dvc/cache/ff/" + "0" * 29 + "a": "junk", ".dvc/cache/files/md5/ee/" + "0" * 30: "j"},
        )

    theirs, ours = _twins(dvc2_project, tmp_path, junk)
    assert run_dvc(theirs, "gc", "-w", "-f").returncode == 0
    result = cli(ours, "gc", "-w", "-f")
    assert result.code == 0, result.err
    cache = Path(".dvc/cache")
    expected = [p for p in _listing(theirs / cache) if not p.startswith("tmp/")]
    assert [p for p in _listing(ours / cache) if not p.startswith("tmp/")] == expected
    assert "ff/" + "0" * 29 + "a" not in expected


def test_plots_read_a_dvc2_plot_from_the_legacy_cache(
    dvc2_project: Path, tmp_path: Path, cli
) -> None:
    """``plots diff HEAD``: HEAD's ``loss.csv`` is only in the DVC 2 cache."""
    theirs, ours = _twins(dvc2_project, tmp_path, _write("loss.csv", b"step,loss\r\n0,2\r\n"))
    dvc = run_dvc(theirs, "plots", "diff", "HEAD", "--json")
    assert dvc.returncode == 0, dvc.stderr
    result = cli(ours, "plots", "diff", "HEAD", "--json")
    assert result.code == 0, result.err

    def rows(text: str) -> list[tuple[str, str, str]]:
        values = json.loads(text)["data"]["loss.csv"][0]["content"]["data"]["values"]
        return sorted((r["rev"], str(r["step"]), str(r["loss"])) for r in values)

    assert rows(result.out) == rows(dvc.stdout)
    assert ("HEAD", "1", "0.5") in rows(result.out)


def test_gc_with_a_lost_dvc2_lock_keeps_the_outs_on_disk(
    dvc2_project: Path, tmp_path: Path, cli
) -> None:
    """No lock anywhere in history: the outs on disk are what gc keeps, in DVC 2's layout too."""
    _theirs, ours = _twins(dvc2_project, tmp_path, lambda root: (root / "dvc.lock").write_text(""))
    git(ours, "checkout", "-q", "--orphan", "fresh")
    git(ours, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qam", "no lock")
    before = _listing(ours / ".dvc" / "cache")
    result = cli(ours, "gc", "-w", "-f", "--skip-failed")
    assert result.code == 0, result.err
    assert [p for p in _listing(ours / ".dvc" / "cache") if not p.startswith("tmp/")] == [
        p for p in before if not p.startswith("tmp/")
    ]
