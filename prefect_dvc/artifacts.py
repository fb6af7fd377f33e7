"""``artifacts get``: download a registered artifact of a local DVC repository, as DVC 3 does.

Provides:
    ArtifactTag, parse_tag(tag): GTO's Git tag grammar (``model@v1.2.0``,
        ``model#prod#3``, ``path=to=model@v1.0.0``), or ``None``.
    artifact_rev(root, name, version=, stage=): the commit a name, version or
        stage points at (DVC's ``Artifacts.get_rev``).
    get_artifact(repo, name, version=, stage=, out=, force=, cwd=): the files
        written and where; read from Git, the repository's cache or its
        default remote (``experiments/revfiles.py``).

DVC 3.67.1 (``dvc/repo/artifacts.py``) first asks Studio, then the repository:
a name ``[path/to/dvc.yaml:]name`` selects the ``artifacts:`` entry of that
``dvc.yaml``; the revision is the commit of the newest annotated GTO tag for
``--stage``, of the tag of ``--rev`` (a version such as ``v1.0.0``), or of
the highest semantic version. The output is the path's base name in the
current folder, ``-o DIR/`` puts it in a folder, and an existing output is
refused unless ``--force``. Only local repositories are served here (no
Studio, no clone of a URL). Nothing is written until every byte is read.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from prefect_dvc.errors import ArtifactError, PrefectDvcError
from prefect_dvc.experiments.gitbatch import GitBatch, run_git
from prefect_dvc.plots.data import SourceReader
from prefect_dvc.tmpnames import tmp_name
from prefect_dvc.yamlio import parse_yaml

__all__ = ["ArtifactTag", "artifact_rev", "get_artifact", "parse_tag"]

# NOTE: gto/constants.py, verbatim in meaning: names, the "dirname:" prefix
# (":" is "=" inside tags), semantic versions and the tag forms.
_NAME = r"[a-zA-Z0-9]([a-zA-Z0-9-/_]*[a-zA-Z0-9])?"
_DIRNAME = r"[a-zA-Z0-9-_./]+"
_SEMVER = (
    r"(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<pre>(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)"
    r"(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*)?"
)
_FULLNAME = re.compile(f"^(?P<dirname>{_DIRNAME}:)?(?P<name>{_NAME})$")
_TAG = re.compile(
    f"^(?P<artifact>(?:{_DIRNAME}=)?{_NAME})"
    f"(((#(?P<stage>{_NAME})|@(?P<version>v{_SEMVER}))!?)|@(deprecated|created))"
    r"(#[0-9]+)?$"
)
_SEMVER_ONLY = re.compile(f"^v{_SEMVER}$")


@dataclass(frozen=True)
class ArtifactTag:
    """An annotated Git tag in GTO's grammar: artifact name, version or stage, commit, time."""

    tag: str
    name: str
    commit: str
    time: int
    version: str | None = None
    stage: str | None = None


def parse_tag(tag: str, commit: str = "", time: int = 0) -> ArtifactTag | None:
    """``tag`` as GTO reads it (``None`` if it is no registry tag)."""
    match = _TAG.match(tag)
    if match is None:
        return None
    name = match["artifact"].replace("=", ":")
    return ArtifactTag(tag, name, commit, time, match["version"], match["stage"])


def _normalise(name: str) -> tuple[str, str]:
    """``(dirname, name)`` of ``[dirname:]name``; ``path/dvc.yaml:x`` means ``path:x``.

    Raises:
        ArtifactError: not an artifact name.
    """
    match = _FULLNAME.match(name)
    if match is None:
        raise ArtifactError(f"Unable to find artifact '{name}'", hint=_NAME_HINT)
    dirname = (match["dirname"] or "").rstrip(":")
    head, tail = posixpath.split(dirname)
    if tail == "dvc.yaml":
        dirname = head
    return dirname, match["name"]


_NAME_HINT = "Name it as in dvc.yaml 'artifacts:', prefixed 'path/to/dvc.yaml:' outside the root"


def _semver_key(version: str) -> tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]:
    match = _SEMVER_ONLY.match(version)
    assert match is not None
    pre = match["pre"]
    ids = tuple((0, int(p)) if p.isdigit() else (1, p) for p in (pre or "").split(".") if p)
    # NOTE: semver: a release outranks its pre-releases (1.0.0 > 1.0.0-rc.1).
    return (int(match["major"]), int(match["minor"]), int(match["patch"]), pre is None, ids)


def _tags(root: Path) -> list[ArtifactTag]:
    out = run_git(
        root,
        "for-each-ref",
        "--format=%(refname:strip=2)%00%(objecttype)%00%(*objectname)%00%(taggerdate:unix)",
        "refs/tags",
    )
    found = []
    for line in out.splitlines():
        tag, kind, commit, stamp = line.split("\0")
        parsed = parse_tag(tag, commit, int(stamp or 0))
        if parsed is not None and kind == "tag":  # NOTE: GTO ignores lightweight tags
            found.append(parsed)
    return found


def artifact_rev(
    root: Path, name: str, *, version: str | None = None, stage: str | None = None
) -> str:
    """The commit holding artifact ``name`` (at ``version`` or ``stage``, else the newest version).

    Raises:
        ArtifactError: both ``version`` and ``stage``; no tag matches.
    """
    if version and stage:
        raise ArtifactError("Artifact version and stage are mutually exclusive")
    dirname, short = _normalise(name)
    wanted = f"{dirname}:{short}" if dirname else short
    tags = [
        t
        for t in _tags(root)
        if t.name == wanted
        and (not version or t.version == version)
        and (not stage or t.stage == stage)
    ]
    if not tags:
        desc = f" @ {stage or version}" if (stage or version) else ""
        raise ArtifactError(
            f"Unable to find artifact '{wanted}{desc}'",
            path=str(root),
            hint="Register it with a Git tag such as 'name@v1.0.0' (GTO)",
        )
    tags.sort(key=lambda t: t.time)
    if version or stage:
        return tags[-1].commit
    versions = [t for t in tags if t.version]
    if versions:
        return max(versions, key=lambda t: _semver_key(str(t.version))).commit
    return tags[-1].commit


def _artifact_path(batch: GitBatch, rev: str, dirname: str, name: str) -> str:
    dvcfile = posixpath.join(dirname, "dvc.yaml")
    blob = batch.read(f"{rev}:{dvcfile}")
    try:
        raw = parse_yaml(blob.content.decode("utf-8"), dvcfile) if blob else None
    except (UnicodeDecodeError, PrefectDvcError):
        raw = None
    entries = raw.get("artifacts") if isinstance(raw, dict) else None
    entry = entries.get(name) if isinstance(entries, dict) else None
    path = entry.get("path") if isinstance(entry, dict) else None
    if not isinstance(path, str) or not path:
        full = f"{dirname}:{name}" if dirname else name
        raise ArtifactError(f"Unable to find artifact '{full}'", path=f"{dvcfile}@{rev[:7]}")
    return posixpath.normpath(posixpath.join(dirname, path))


def _contents(reader: SourceReader, rev: str, path: str) -> dict[str, bytes]:
    """Every file of ``path`` at ``rev`` (one, or a folder's), keyed relative to ``path``."""
    single = reader.read(rev, path)
    if single is not None:
        return {"": single}
    found: dict[str, bytes] = {}
    for file in reader.list_dir(rev, path):
        data = reader.read(rev, file)
        if data is None:
            raise ArtifactError(
                f"'{file}' of artifact path '{path}' is in neither the cache nor the remote",
                hint="Run 'prefect-dvc fetch' in the repository",
            )
        found[posixpath.relpath(file, path)] = data
    if not found:
        raise ArtifactError(
            f"artifact path '{path}' is not in commit {rev[:7]} nor in its cache",
            hint="Run 'prefect-dvc fetch' in the repository",
        )
    return found


def _output(path: str, out: str | None, force: bool, cwd: Path) -> tuple[Path, str]:
    """DVC's ``resolve_output``: the base name, or inside ``out`` if it is a folder.

    Returns the target and its name as DVC prints it.
    """
    name = posixpath.basename(path)
    shown = out or name
    if out and (cwd / out).is_dir():
        shown = os.path.join(out, name)
    target = cwd / shown
    if (target.exists() or target.is_symlink()) and not force:
        kind = "directory" if target.is_dir() else "file"
        raise ArtifactError(
            f"The {kind} '{shown}' already exists locally",
            hint="To override it, re-run with '--force'",
        )
    return target, shown


def _write(target: Path, files: dict[str, bytes]) -> None:
    if "" in files:
        if target.is_dir() and not target.is_symlink():
            raise ArtifactError(
                f"'{target}' is a directory; the artifact is a file",
                hint="Pass -o with a file name",
            )
        destinations = {target: files[""]}
    else:
        destinations = {target.joinpath(*rel.split("/")): data for rel, data in files.items()}
    for dest, data in destinations.items():
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(tmp_name(dest.name))
        try:
            tmp.write_bytes(data)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)


def get_artifact(
    repo: Path,
    name: str,
    *,
    version: str | None = None,
    stage: str | None = None,
    out: str | None = None,
    force: bool = False,
    cwd: Path | None = None,
) -> tuple[int, str]:
    """Download artifact ``name`` of the local repository ``repo``; ``(files, output path)``.

    Raises:
        ArtifactError: unknown name, version or stage; an existing output
            without ``force``; data in no store. Nothing is written then.
        CorruptObjectError: a cached object does not match its hash.
    """
    cwd = Path(cwd or Path.cwd())
    rev = artifact_rev(repo, name, version=version, stage=stage)
    dirname, short = _normalise(name)
    pipelines: Sequence[str] = (posixpath.join(dirname, "dvc.yaml"),)
    with GitBatch(repo) as batch, SourceReader(repo, batch, pipelines) as reader:
        path = _artifact_path(batch, rev, dirname, short)
        files = _contents(reader, rev, path)
    target, shown = _output(path, out, force, cwd)
    _write(target, files)
    return len(files), shown
