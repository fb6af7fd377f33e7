"""``import-url``, ``import`` and ``update`` through the real ``prefect-dvc`` command."""

from __future__ import annotations

from pathlib import Path

from helpers import gen


def _listing(root: Path) -> dict[str, bytes]:
    """The workspace and .dvc/ (cache included) but .git and .dvc/tmp (locks, as DVC's)."""
    return {
        rel: p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
        and not (rel := p.relative_to(root).as_posix()).startswith((".git/", ".dvc/tmp/"))
    }


def test_import_url_prints_dvcs_lines_and_update_skips(git_repo: Path, tmp_path: Path, cli) -> None:
    gen(tmp_path, {"raw.csv": "a\n1\n"})
    src = str(tmp_path / "raw.csv")

    done = cli(git_repo, "import-url", src, "raw.csv")
    assert done.code == 0, done.err
    assert done.out == (
        f"Importing '{src}' -> 'raw.csv'\n\n"
        "To track the changes with git, run:\n\n\tgit add .gitignore raw.csv.dvc\n\n"
    )
    assert (git_repo / "raw.csv").read_text() == "a\n1\n"
    # again with --force, from a sub-folder: .gitignore is unchanged, paths are relative to it
    (git_repo / "sub").mkdir()
    done = cli(git_repo / "sub", "import-url", "-f", src, "../raw.csv")
    assert done.code == 0, done.err
    assert done.out.endswith("\tgit add ../raw.csv.dvc\n\n")

    done = cli(git_repo, "update", "raw.csv.dvc")
    assert (done.code, done.out) == (0, "'raw.csv.dvc' didn't change, skipping\n")
    gen(tmp_path, {"raw.csv": "a\n2\n"})
    done = cli(git_repo, "update", "raw.csv.dvc")
    assert (done.code, done.out) == (0, f"Importing '{src}' -> 'raw.csv'\n")
    assert (git_repo / "raw.csv").read_text() == "a\n2\n"


def test_bad_input_is_one_error_line_and_nothing_written(git_repo: Path, cli) -> None:
    before = _listing(git_repo)
    cases = [
        (("import-url", "../nowhere.csv"), "ERROR: failed to import '../nowhere.csv'"),
        (("import-url", "gopher://host/x"), "unsupported URL type 'gopher://'"),
        (("import-url", "--version-aware", "../x"), "--version-aware is not supported"),
        (("import-url", "--fs-config", "a=b", "../x"), "--fs-config is not supported"),
        (("import", "../no-repo", "data.xml"), "cannot read the repository '../no-repo'"),
        (("update", "missing.dvc"), "'missing.dvc' does not exist"),
        (("import-url", "-j", "0", "../x"), "-j/--jobs must be at least 1"),
        (("import-url", "--no-exec", "--no-download", "../x"), "cannot be combined"),
    ]
    for args, said in cases:
        done = cli(git_repo, *args)
        assert done.code == 1, (args, done.err)
        lines = done.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("ERROR: ") and said in lines[0], done.err
        assert _listing(git_repo) == before, args
