"""``.dvc/config`` files read by real DVC 3.67.1 and by us: same values, or both refuse."""

from __future__ import annotations

import ast
import os
import stat
from pathlib import Path

import pytest
from helpers import gen, git, run_dvc

from prefect_dvc.config import (
    add_remote,
    load_config,
    merged_sections,
    modify_remote,
    set_default_remote,
)
from prefect_dvc.errors import ConfigError
from prefect_dvc.translators import load_pipeline

REMOTE_Q = "['remote \"storage\"']"
CORPUS: dict[str, str] = {
    "dvc-written": f"[core]\n    remote = storage\n{REMOTE_Q}\n    url = s3://b/p\n",
    "comments-and-inline": (
        "# top comment\n; semicolon comment\n[core]\n    autostage = True  # inline\n"
        f"    remote = storage   # the default\n{REMOTE_Q}\n    url = s3://b/p # c\n"
    ),
    "quotes": (
        "[core]\n    remote = 'storage'\n"
        f"{REMOTE_Q}\n    url = \"s3://b/with # hash\"\n    profile = '''it's \"x\"'''\n"
    ),
    "odd-case": "[CORE]\n    AutoStage = TRUE\n[Parsing]\n    BOOL = Boolean_Optional\n",
    "unindented": '[core]\nno_scm = false\n[remote "r"]\nurl = /srv/somewhere\n',
    "comma-list": '[cache]\n    type = reflink, copy\n    dir = "../c"\n',
    "quoted-list": '[cache]\n    type = "hardlink,symlink"\n',
    "deprecated-but-allowed": "[state]\n    row_limit = 5\n[cache]\n    protected = true\n",
    "feature-unknown-warns": "[feature]\n    nope = 1\n",
    "bad-bool-yes": "[core]\n    autostage = yes\n",
    "bad-bool-1": "[core]\n    autostage = 1\n",
    "bad-int": "[core]\n    checksum_jobs = abc\n",
    "int-too-small": "[core]\n    checksum_jobs = 0\n",
    "bad-choice": "[parsing]\n    bool = maybe\n",
    "bad-cache-type": "[cache]\n    type = reflink, nope\n",
    "unknown-key": "[core]\n    bogus = 1\n",
    "unknown-section": "[bogus]\n    a = 1\n",
    "key-outside-section": "x = 1\n[core]\n    autostage = true\n",
    "unknown-remote-key": f"{REMOTE_Q}\n    url = s3://b\n    bogus = 1\n",
    "s3-key-on-local-remote": '[remote "a"]\n    url = /srv/x\n    region = eu\n',
    "bad-remote-bool": f"{REMOTE_Q}\n    url = s3://b\n    use_ssl = nah\n",
    "subsection": f"{REMOTE_Q}\n    url = s3://b\n    [[sub]]\n    k = 1\n",
    "unsupported-remote-url": '[remote "a"]\n    url = foo://bucket/x\n',
    "syntax-error": "[core\n    autostage = true\n",
    "duplicate-section": "[core]\n    autostage = true\n[core]\n    no_scm = true\n",
    "unterminated-quote": "[core]\n    remote = 'storage\n",
}


def _dvc_values(repo: Path) -> dict[str, object]:
    listed = run_dvc(repo, "config", "--list", "--project")
    values: dict[str, object] = {}
    for line in listed.stdout.splitlines():
        name, _, value = line.partition("=")
        values[name] = ast.literal_eval(value) if value.startswith("[") else value
    return values


def _our_values(repo: Path) -> dict[str, object]:
    values: dict[str, object] = {}
    for section, keys in merged_sections(repo).items():
        prefix = section
        if section.startswith("remote "):
            prefix = "remote." + section.split('"')[1]
        for key, value in keys.items():
            if (section, key) == ("cache", "dir") or (prefix != section and key == "url"):
                # NOTE: DVC lists local paths resolved against .dvc/, as we use them.
                is_local = isinstance(value, str) and "://" not in value
                value = os.path.normpath(repo / ".dvc" / value) if is_local else value
            values[f"{prefix}.{key}"] = value
    return values


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_config_corpus_agrees_with_dvc(git_repo: Path, name: str) -> None:
    gen(git_repo, {".dvc/config": CORPUS[name]})
    before = (git_repo / ".dvc/config").read_bytes()
    dvc_ok = run_dvc(git_repo, "status").returncode == 0
    try:
        load_config(git_repo)
    except ConfigError as exc:
        ours_ok = False
        text = str(exc)
        assert text.startswith(".dvc/config"), text
        assert "\n" not in text
    else:
        ours_ok = True
    assert ours_ok == dvc_ok
    if dvc_ok:
        assert _our_values(git_repo) == _dvc_values(git_repo)
    assert (git_repo / ".dvc/config").read_bytes() == before


@pytest.mark.parametrize(
    ("name", "where"),
    [
        ("bad-bool-yes", ".dvc/config:2: 'autostage' in [core]: expected true or false."),
        ("unknown-section", ".dvc/config:1: [bogus]: extra keys not allowed."),
        ("unknown-remote-key", ".dvc/config:3: 'bogus' in [remote \"storage\"]: extra keys"),
        ("syntax-error", ".dvc/config:1: cannot parse: Invalid line ('[core')"),
    ],
)
def test_refusals_name_file_and_line(git_repo: Path, name: str, where: str) -> None:
    gen(git_repo, {".dvc/config": CORPUS[name]})
    with pytest.raises(ConfigError) as caught:
        load_config(git_repo)
    assert str(caught.value).startswith(where)


def test_values_keep_dvcs_case_rules(git_repo: Path) -> None:
    gen(git_repo, {".dvc/config": CORPUS["odd-case"]})
    cfg = load_config(git_repo)
    assert cfg.parsing_bool == "boolean_optional"
    gen(git_repo, {".dvc/config": CORPUS["comma-list"]})
    assert load_config(git_repo).cache_types == ("reflink", "copy")


def test_edit_keeps_comments_and_mode_and_dvc_reads_it(git_repo: Path) -> None:
    original = (
        "# Project settings: ask Ana before changing the remote.\n"
        "[core]\n    remote = storage  # shared bucket\n"
        f"{REMOTE_Q}\n    # the bucket of team X\n    url = s3://b/p\n"
    )
    gen(git_repo, {".dvc/config": original})
    (git_repo / ".dvc/config").chmod(0o640)
    git(git_repo, "add", "-A")
    modify_remote(git_repo, "storage", "region", "eu-west-1")
    modify_remote(git_repo, "storage", "endpointurl", "http://minio:9000")
    text = (git_repo / ".dvc/config").read_text()
    assert text == (
        "# Project settings: ask Ana before changing the remote.\n"
        "[core]\n    remote = storage    # shared bucket\n"
        f"{REMOTE_Q}\n    # the bucket of team X\n    url = s3://b/p\n"
        "    region = eu-west-1\n    endpointurl = http://minio:9000\n"
    )
    assert stat.S_IMODE((git_repo / ".dvc/config").stat().st_mode) == 0o640
    assert run_dvc(git_repo, "status").returncode == 0
    assert _our_values(git_repo) == _dvc_values(git_repo)


def test_invalid_edit_is_refused_and_changes_nothing(git_repo: Path) -> None:
    gen(git_repo, {".dvc/config": CORPUS["dvc-written"]})
    before = (git_repo / ".dvc/config").read_bytes()
    with pytest.raises(ConfigError, match=r"'bogus' in \[remote \"storage\"\]: extra keys"):
        modify_remote(git_repo, "storage", "bogus", "1")
    with pytest.raises(ConfigError, match="'use_ssl' .*expected true or false"):
        modify_remote(git_repo, "storage", "use_ssl", "maybe")
    assert (git_repo / ".dvc/config").read_bytes() == before
    dvc = run_dvc(git_repo, "remote", "modify", "storage", "bogus", "1")
    assert dvc.returncode != 0
    assert (git_repo / ".dvc/config").read_bytes() == before
    set_default_remote(git_repo, "storage")
    assert (git_repo / ".dvc/config").read_bytes() == before


def test_parsing_options_read_as_dvc_reads_them(git_repo: Path) -> None:
    gen(
        git_repo,
        {
            ".dvc/config": "[parsing]\n    bool = Boolean_Optional  # odd case, inline comment\n"
            "    list = 'APPEND'\n",
            "params.yaml": "d:\n  flag: false\n  xs: [1, 2]\n",
            "dvc.yaml": "stages:\n  s:\n    cmd: echo run ${d} > out.txt\n    outs: [out.txt]\n",
        },
    )
    done = run_dvc(git_repo, "repro", "-q")
    assert done.returncode == 0, done.stderr
    lock = (git_repo / "dvc.lock").read_text()
    ours = load_pipeline(git_repo).stages["s"].cmd
    assert ours == "echo run --no-flag --xs 1 --xs 2 > out.txt"
    assert f"cmd: {ours}\n" in lock


def test_remote_names_lower_cased_as_dvc_writes_them(tmp_path: Path) -> None:
    theirs, ours = tmp_path / "theirs", tmp_path / "ours"
    for root in (theirs, ours):
        root.mkdir()
        git(root, "init", "-q")
        assert run_dvc(root, "init", "-q").returncode == 0
    for args in (("add", "MyRemote", "s3://x"), ("modify", "MyRemote", "region", "eu")):
        assert run_dvc(theirs, "remote", *args).returncode == 0
    assert run_dvc(theirs, "remote", "default", "MyRemote").returncode == 0
    add_remote(ours, "MyRemote", "s3://x")
    modify_remote(ours, "MyRemote", "region", "eu")
    set_default_remote(ours, "MyRemote")
    assert (ours / ".dvc/config").read_bytes() == (theirs / ".dvc/config").read_bytes()
    assert load_config(ours).remote("MYREMOTE").option("region") == "eu"
    with pytest.raises(ConfigError, match="remote 'myremote' already exists"):
        add_remote(ours, "MyRemote", "s3://y")
