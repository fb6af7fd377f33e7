"""Collect what ``exp show`` displays: baselines, their experiments, and per-commit data.

Provides:
    ShowFiles: the repo-relative params and metrics files to read
        (``ShowFiles.from_dvcyaml(root)`` derives them from the workspace's ``dvc.yaml``).
    FileError, FileData, parse_file, flatten: re-exported from ``filedata.py``.
    deps_and_outs(dvcyaml, lock, metrics): deps/outs with hashes, as ``exp show`` lists them.
    ExpData: params, metrics, deps and outs of one revision.
    ExpRow: one row of ``exp show``: the workspace, a baseline or an experiment.
    ExpRefInfo, list_exp_refs(refs): valid ``refs/exps/<b[:2]>/<b[2:]>/<name>`` refs.
    resolve_commit(batch, rev): the SHA of a commit-ish, or ExperimentNotFoundError.
    collect_experiments(root, files, revs=, all_commits=, num=): the rows, in display order.
    read_revision(root, files, rev, batch): ``ExpData`` of one commit (or the workspace).

Rows follow DVC 3 (``formats.md`` §5.8): the workspace, then each baseline
followed by its experiments, newest tip first. An experiment is found by
walking first parents from its ref's tip down to (not including) the baseline,
so a 2.x checkpoint chain gives several revisions, tip first. Everything is
read through one ``git cat-file --batch`` process and two bulk ``git`` calls;
a file's parsed content is cached by blob SHA, so 1,000 experiments sharing a
``dvc.lock`` parse it once.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from prefect_dvc.errors import ExperimentNotFoundError, PrefectDvcError
from prefect_dvc.experiments.filedata import FileData, FileError, flatten, parse_file
from prefect_dvc.experiments.gitbatch import (
    Blob,
    CommitInfo,
    GitBatch,
    RefEntry,
    list_refs,
    log_commits,
)
from prefect_dvc.experiments.refs import ExpRef
from prefect_dvc.experiments.revfiles import (
    ObjectReader,
    locked_outs,
    missing_error,
    out_object,
    unreadable,
)
from prefect_dvc.external import is_url
from prefect_dvc.lockschema import parse_lock
from prefect_dvc.yamlio import load_yaml, parse_yaml

__all__ = [
    "WORKSPACE",
    "ExpData",
    "ExpRefInfo",
    "ExpRow",
    "FileData",
    "FileError",
    "ShowFiles",
    "collect_experiments",
    "deps_and_outs",
    "flatten",
    "list_exp_refs",
    "parse_file",
    "read_revision",
    "resolve_commit",
]

RowType = Literal["baseline", "branch_commit", "branch_base"]
WORKSPACE = "workspace"


@dataclass(frozen=True)
class ShowFiles:
    """Repo-relative files ``exp show`` reads at every revision.

    ``optional`` files are shown only where they exist (DVC's implicit root
    ``params.yaml``); any other missing file is reported as an error cell.
    """

    params: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    #: every pipeline file of the index; deps and outs come from each one's dvc.lock
    dvcfiles: tuple[str, ...] = ("dvc.yaml",)

    @classmethod
    def from_dvcyaml(cls, root: Path) -> ShowFiles:
        """Derive the files from the workspace's raw ``dvc.yaml`` (plain paths only).

        Stage ``params:`` files (bare keys mean the stage wdir's ``params.yaml``),
        stage ``metrics:`` outs, top-level ``params:``/``metrics:``, and the root
        ``params.yaml`` when it exists. Interpolated paths are skipped.
        """
        path = root / "dvc.yaml"
        raw = load_yaml(path, "dvc.yaml") if path.exists() else None
        return cls.from_raw(raw, params_yaml=(root / "params.yaml").exists())

    @classmethod
    def from_raw(cls, raw: Any, *, params_yaml: bool = True) -> ShowFiles:
        """The files a parsed ``dvc.yaml`` declares (see :meth:`from_dvcyaml`).

        ``params_yaml``: add DVC's implicit root ``params.yaml`` as optional
        (shown only where it exists). A ``raw`` that is no mapping declares nothing.
        """
        params: list[str] = []
        metrics: list[str] = []
        if isinstance(raw, dict):
            stages = raw.get("stages")
            for stage in (stages if isinstance(stages, dict) else {}).values():
                if isinstance(stage, dict):
                    _stage_files(stage, params, metrics)
            _add_paths(".", raw.get("params"), params)
            _add_paths(".", raw.get("metrics"), metrics)
        optional: tuple[str, ...] = ()
        if "params.yaml" not in params and params_yaml:
            params.append("params.yaml")
            optional = ("params.yaml",)
        return cls(params=tuple(params), metrics=tuple(metrics), optional=optional)


def _stage_files(stage: Mapping[str, Any], params: list[str], metrics: list[str]) -> None:
    wdir = stage.get("wdir", ".")
    if not isinstance(wdir, str) or "${" in wdir:
        return
    for entry in stage.get("params") or []:
        if isinstance(entry, str):
            _add_paths(wdir, ["params.yaml"], params)
        elif isinstance(entry, dict):
            _add_paths(wdir, list(entry), params)
    _add_paths(wdir, stage.get("metrics"), metrics)


def _add_paths(wdir: str, entries: Any, into: list[str]) -> None:
    for entry in entries if isinstance(entries, list) else []:
        name = next(iter(entry), None) if isinstance(entry, dict) else entry
        if isinstance(name, str) and "${" not in name:
            joined = posixpath.normpath(posixpath.join(wdir, name))
            if joined not in into:
                into.append(joined)


def deps_and_outs(
    dvcyaml: bytes | None, lock: bytes | None, metrics: Sequence[str], base: str = "."
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """File deps and non-metric, non-plot outs with their hashes from ``dvc.lock``.

    ``base`` is the folder of the ``dvc.yaml`` (relative to the root); the
    paths returned are relative to the root.

    Stages of the raw ``dvc.yaml`` give the paths (with ``wdir``) and ``cache``
    flags; the lock gives ``hash``/``size``/``nfiles``. Entries the lock lacks
    keep ``None`` values, as in DVC's JSON.

    Raises:
        YamlSyntaxError: either file is not valid YAML.
        SchemaError: the lock is not one DVC 3 accepts.
    """
    raw = parse_yaml(dvcyaml.decode("utf-8"), "dvc.yaml") if dvcyaml else None
    # NOTE: checked as DVC's lock schema: a damaged lock at a revision is a
    # SchemaError (shown as '!' by the caller), never a KeyError here.
    locked_stages = parse_lock(lock.decode("utf-8"), "dvc.lock") if lock else {}
    stages = raw.get("stages") if isinstance(raw, dict) else None
    stages = stages if isinstance(stages, dict) else {}
    wdirs: dict[str, str] = {}
    skip = set(metrics)
    deps: dict[str, dict[str, Any]] = {}
    outs: dict[str, dict[str, Any]] = {}
    for name, stage in stages.items():
        wdir = stage.get("wdir", ".") if isinstance(stage, dict) else None
        if not isinstance(wdir, str) or "${" in wdir or "foreach" in stage or "matrix" in stage:
            continue
        wdir = _join(base, wdir)
        wdirs[name] = wdir
        for path in stage.get("deps") or []:
            if isinstance(path, str) and "${" not in path:
                deps[_join(wdir, path)] = _entry({})
        for kind in ("metrics", "plots"):
            skip.update(_join(wdir, p) for p in _out_paths(stage.get(kind)))
        for path in _out_paths(stage.get("outs")):
            outs[_join(wdir, path)] = _entry({}, _uses_cache(stage["outs"], path))
    for name, entry in locked_stages.items():
        wdir = wdirs.get(str(name).split("@")[0], base)
        for item in entry.get("deps") or []:
            deps[_join(wdir, item["path"])] = _entry(item)
        for item in entry.get("outs") or []:
            path = _join(wdir, item["path"])
            if path not in skip:
                outs[path] = _entry(item, outs.get(path, {}).get("use_cache", True))
    return dict(sorted(deps.items())), dict(sorted(outs.items()))


def _join(wdir: str, path: str) -> str:
    if is_url(str(path)):
        return str(path)  # NOTE: an external URL dep (external.py) is no local path
    return posixpath.normpath(posixpath.join(wdir, str(path)))


def _out_paths(entries: Any) -> list[str]:
    paths = []
    for entry in entries if isinstance(entries, list) else []:
        name = next(iter(entry), None) if isinstance(entry, dict) else entry
        if isinstance(name, str) and "${" not in name:
            paths.append(name)
    return paths


def _uses_cache(entries: list[Any], path: str) -> bool:
    for entry in entries:
        if isinstance(entry, dict) and path in entry and isinstance(entry[path], dict):
            return bool(entry[path].get("cache", True))
    return True


def _entry(item: Mapping[str, Any], use_cache: bool | None = None) -> dict[str, Any]:
    value = {
        "hash": item.get("md5") or item.get("etag") or item.get("checksum"),
        "size": item.get("size"),
        "nfiles": item.get("nfiles"),
    }
    if use_cache is not None:
        value.update(use_cache=use_cache, is_data_source=False)
    return value


@dataclass(frozen=True)
class ExpData:
    """Everything ``exp show`` knows about one revision.

    ``params``/``metrics`` map each file to its nested data or error (use
    ``FileData.flat`` for dotted keys); ``deps``/``outs`` map repo-relative
    paths to ``{hash, size, nfiles}`` (outs add ``use_cache``, ``is_data_source``)
    from that revision's ``dvc.lock``. ``error`` is set when the revision's
    ``dvc.yaml``/``dvc.lock`` cannot be read, as DVC then shows no data.
    """

    rev: str
    name: str | None = None
    timestamp: datetime | None = None
    params: Mapping[str, FileData] = field(default_factory=dict)
    metrics: Mapping[str, FileData] = field(default_factory=dict)
    deps: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    outs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    error: FileError | None = None


@dataclass(frozen=True)
class ExpRow:
    """One row: ``rev`` is a full SHA or ``"workspace"``.

    For experiments ``parent`` is the baseline SHA and ``revs`` the commits from
    the tip down to the baseline (tip first; ``data`` is ``revs[0]``).
    ``executor`` is set for queued, running and failed queue entries
    (``{"state", "name", "local"}`` as in DVC's JSON; ``queue_rows.py``).
    """

    rev: str
    name: str | None
    typ: RowType
    parent: str | None
    data: ExpData
    revs: tuple[ExpData, ...] = ()
    executor: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class ExpRefInfo:
    """An experiment ref ``refs/exps/<baseline[:2]>/<baseline[2:]>/<name>``."""

    baseline: str
    name: str
    ref: str
    tip: str


def list_exp_refs(refs: Sequence[RefEntry]) -> list[ExpRefInfo]:
    """The experiment refs among ``refs``, as :meth:`ExpRef.parse` recognises them
    (DVC's stash, queue and executor refs are skipped)."""
    found = []
    for entry in refs:
        exp = ExpRef.parse(entry.ref)
        if exp is not None:
            found.append(
                ExpRefInfo(baseline=exp.baseline, name=exp.name, ref=entry.ref, tip=entry.commit)
            )
    return found


def resolve_commit(batch: GitBatch, rev: str) -> str:
    """The full SHA of commit ``rev``.

    Raises:
        ExperimentNotFoundError: when ``rev`` names no commit.
    """
    blob = None if rev.startswith("-") else batch.read(f"{rev}^{{commit}}")
    if blob is None:
        raise ExperimentNotFoundError(
            f"unknown revision '{rev}'",
            path=str(batch.root),
            hint="Pass a commit SHA, branch, tag or experiment name",
        )
    return blob.sha


def _baselines(
    root: Path, batch: GitBatch, revs: Sequence[str], all_commits: bool, num: int
) -> list[CommitInfo]:
    if all_commits:
        return log_commits(
            root, (), options=("--exclude=refs/exps/*", "--exclude=refs/stash", "--all")
        )
    found: dict[str, CommitInfo] = {}
    for rev in revs:
        sha = resolve_commit(batch, rev)
        count = None if num < 0 else max(num, 1)
        for info in log_commits(root, [sha], first_parent=True, max_count=count):
            found.setdefault(info.sha, info)
    return list(found.values())


def _baseline_names(refs: Sequence[RefEntry]) -> dict[str, str]:
    """Name each commit by the checked-out branch, else a tag, else a branch."""
    names: dict[str, str] = {}
    ranked = sorted(
        refs,
        key=lambda r: (not r.is_head, not r.ref.startswith("refs/tags/"), r.ref),
    )
    for entry in ranked:
        for prefix in ("refs/heads/", "refs/tags/"):
            if entry.ref.startswith(prefix):
                names.setdefault(entry.commit, entry.ref[len(prefix) :])
    return names


def _chains(
    root: Path, exp_refs: Sequence[ExpRefInfo], baselines: set[str]
) -> tuple[dict[str, list[str]], dict[str, int]]:
    """Each exp ref's commits (tip first, first parents down to the baseline) and their times."""
    wanted = [ref for ref in exp_refs if ref.baseline in baselines]
    infos = {
        info.sha: info
        for info in log_commits(
            root, sorted({r.tip for r in wanted}), first_parent=True, exclude=sorted(baselines)
        )
    }
    chains: dict[str, list[str]] = {}
    for ref in wanted:
        chain, cur = [], ref.tip
        while cur in infos and cur != ref.baseline:
            chain.append(cur)
            parents = infos[cur].parents
            cur = parents[0] if parents else ""
        if chain:
            chains[ref.ref] = chain
    return chains, {sha: info.timestamp for sha, info in infos.items()}


def collect_experiments(
    root: Path,
    files: ShowFiles,
    *,
    revs: Sequence[str] = ("HEAD",),
    all_commits: bool = False,
    num: int = 1,
) -> list[ExpRow]:
    """The rows of ``exp show``: workspace, then each baseline and its experiments.

    Raises:
        ExperimentNotFoundError: a revision in ``revs`` names no commit.
        GitError: ``root`` is not a Git repository.
    """
    root = Path(root)
    refs = list_refs(root, ["refs/exps", "refs/heads", "refs/tags"])
    names = _baseline_names(refs)
    with GitBatch(root) as batch:
        baselines = _baselines(root, batch, revs, all_commits, num)
        base_shas = {b.sha for b in baselines}
        exp_refs = list_exp_refs(refs)
        chains, times = _chains(root, exp_refs, base_shas)
        times.update({b.sha: b.timestamp for b in baselines})
        commits = [b.sha for b in baselines] + [sha for c in chains.values() for sha in c]
        reader = _Reader(files, ObjectReader(root), _workspace_yaml(root))
        try:
            data = reader.read_commits(batch, commits, times)
            workspace = reader.read_workspace(root)
        finally:
            reader.close()
    rows = [ExpRow(WORKSPACE, None, "baseline", None, workspace)]
    for base in baselines:
        rows.append(ExpRow(base.sha, names.get(base.sha), "baseline", None, data[base.sha]))
        mine = [r for r in exp_refs if r.baseline == base.sha and r.ref in chains]
        mine.sort(key=lambda r: (times.get(r.tip, 0), r.name), reverse=True)
        for index, ref in enumerate(mine):
            revs_data = tuple(
                replace(data[sha], name=ref.name if i == 0 else None)
                for i, sha in enumerate(chains[ref.ref])
            )
            typ: RowType = "branch_base" if index == len(mine) - 1 else "branch_commit"
            rows.append(ExpRow(ref.tip, ref.name, typ, base.sha, revs_data[0], revs_data))
    return rows


def read_revision(root: Path, files: ShowFiles, rev: str, batch: GitBatch) -> ExpData:
    """``ExpData`` of ``rev`` (a commit-ish, or ``"workspace"`` for the files on disk).

    Files missing from Git (or from disk) are read through the revision's
    ``dvc.lock`` and the cache (``revfiles``), fetched from the default
    remote when needed; an unreachable object is an error cell.
    """
    reader = _Reader(files, ObjectReader(Path(root)), _workspace_yaml(Path(root)))
    try:
        if rev == WORKSPACE:
            return reader.read_workspace(Path(root))
        sha = resolve_commit(batch, rev)
        infos = log_commits(Path(root), [sha], no_walk=True)
        return reader.read_commits(batch, [sha], {sha: infos[0].timestamp})[sha]
    finally:
        reader.close()


def _workspace_yaml(root: Path) -> bytes | None:
    path = root / "dvc.yaml"
    return path.read_bytes() if path.is_file() else None


def _paths(files: ShowFiles) -> list[str]:
    pipelines = [p for f in files.dvcfiles for p in (f, _lock_of(f))]
    return list(dict.fromkeys([*files.params, *files.metrics, "dvc.yaml", "dvc.lock", *pipelines]))


# (blob SHA or None for a workspace file, bytes or None when missing)
_Content = tuple[str | None, bytes | None]


class _Reader:
    """Turns file contents into ``ExpData``, parsing each distinct blob or object once.

    A params or metrics file missing from the revision (DVC's get-started
    ``eval/metrics.json`` inside the cached out ``eval/``) is looked up in
    that revision's ``dvc.lock`` and read from the cache by ``objects``.
    Each commit shows the files its own ``dvc.yaml`` declares, as DVC does
    (a baseline from before DVCLive added ``metrics:`` shows no metrics);
    ``files`` (resolved from the workspace pipeline) serve the workspace and
    every commit whose ``dvc.yaml`` has the workspace's bytes.
    """

    def __init__(
        self,
        files: ShowFiles,
        objects: ObjectReader | None = None,
        workspace_yaml: bytes | None = None,
    ) -> None:
        self.files = files
        self.objects = objects
        self.workspace_yaml = workspace_yaml
        self.paths = _paths(files)
        self._cache: dict[tuple[str, ...], Any] = {}

    def close(self) -> None:
        if self.objects is not None:
            self.objects.close()

    def read_workspace(self, root: Path) -> ExpData:
        contents: dict[str, _Content] = {}
        for rel in self.paths:
            path = root / rel
            contents[rel] = (None, path.read_bytes() if path.is_file() else None)
        return self._build(WORKSPACE, None, contents, self.files)

    def read_commits(
        self, batch: GitBatch, shas: Sequence[str], times: Mapping[str, int]
    ) -> dict[str, ExpData]:
        yamls = batch.read_many([f"{sha}:./dvc.yaml" for sha in shas])
        files_of = {sha: self._files_at(blob) for sha, blob in zip(shas, yamls)}
        specs = [(sha, rel) for sha in shas for rel in _paths(files_of[sha])]
        blobs = iter(batch.read_many([f"{sha}:./{rel}" for sha, rel in specs]))
        result = {}
        for sha in shas:
            contents: dict[str, _Content] = {}
            for rel in _paths(files_of[sha]):
                blob = next(blobs)
                is_file = blob is not None and blob.kind == "blob"
                # NOTE: a missing file still gets a cache key, so it is reported once.
                contents[rel] = (blob.sha, blob.content) if blob and is_file else ("-", None)
            stamp = times.get(sha)
            when = datetime.fromtimestamp(stamp) if stamp is not None else None
            result[sha] = self._build(sha, when, contents, files_of[sha])
        return result

    def _files_at(self, yaml: Blob | None) -> ShowFiles:
        """The files a commit's own ``dvc.yaml`` declares (plain paths of the raw file)."""
        if yaml is None or yaml.kind != "blob":
            return ShowFiles.from_raw(None)
        if yaml.content == self.workspace_yaml:
            return self.files
        key = ("files", yaml.sha)
        if key not in self._cache:
            try:
                raw = parse_yaml(yaml.content.decode("utf-8"), "dvc.yaml")
            except (UnicodeDecodeError, PrefectDvcError):
                raw = None  # NOTE: the lock check reports the broken file as the row's error
            files = ShowFiles.from_raw(raw) if isinstance(raw, dict) else self.files
            # NOTE: the other pipelines' files come from the workspace's index.
            files = replace(files, dvcfiles=self.files.dvcfiles)
            if b"${" in yaml.content:
                # NOTE: interpolated paths resolve only in the workspace pipeline:
                # keep its resolved files too rather than lose their columns.
                files = ShowFiles(
                    params=tuple(dict.fromkeys([*files.params, *self.files.params])),
                    metrics=tuple(dict.fromkeys([*files.metrics, *self.files.metrics])),
                    optional=tuple(dict.fromkeys([*files.optional, *self.files.optional])),
                    dvcfiles=self.files.dvcfiles,
                )
            self._cache[key] = files
        return self._cache[key]

    def _file(self, role: str, rel: str, content: _Content) -> FileData:
        key = (role, rel, content[0] or "")
        if content[0] is None or key not in self._cache:
            self._cache[key] = parse_file(rel, content[1], role)
        return self._cache[key]

    def _lock(self, yaml: _Content, lock: _Content, metrics: Sequence[str], base: str = ".") -> Any:
        key = ("lock", base, yaml[0] or "", lock[0] or "", *metrics)
        if yaml[0] is None or lock[0] is None or key not in self._cache:
            try:
                self._cache[key] = deps_and_outs(yaml[1], lock[1], metrics, base)
            except PrefectDvcError as exc:
                self._cache[key] = FileError(type(exc).__name__, str(exc))
        return self._cache[key]

    def _outs(self, yaml: _Content, lock: _Content) -> dict[str, str]:
        key = ("outs", yaml[0] or "", lock[0] or "")
        if yaml[0] is None or lock[0] is None or key not in self._cache:
            self._cache[key] = locked_outs(yaml[1], lock[1])
        return self._cache[key]

    def _from_cache(self, rel: str, contents: dict[str, _Content]) -> _Content | FileData | None:
        """The content of ``rel`` from the cache, an error if its object is gone, else ``None``."""
        if self.objects is None:
            return None
        outs = self._outs(contents["dvc.yaml"], contents["dvc.lock"])
        md5 = out_object(outs, rel, self.objects) if outs else None
        if md5 is None:
            unknown = outs and unreadable(outs, rel, self.objects)
            return FileData(error=FileError(*missing_error(rel))) if unknown else None
        raw = self.objects.read(md5)
        if raw is None:
            return FileData(error=FileError(*missing_error(rel)))
        return (f"object:{md5}", raw)

    def _pipelines(
        self, contents: dict[str, _Content], files: ShowFiles
    ) -> tuple[FileError | None, dict[str, Any], dict[str, Any]]:
        """Deps and outs of every pipeline file, merged; the first error stops them."""
        deps: dict[str, dict[str, Any]] = {}
        outs: dict[str, dict[str, Any]] = {}
        for dvcfile in files.dvcfiles:
            base = posixpath.dirname(dvcfile) or "."
            lock = self._lock(contents[dvcfile], contents[_lock_of(dvcfile)], files.metrics, base)
            if isinstance(lock, FileError):
                return lock, {}, {}
            deps.update(lock[0])
            outs.update(lock[1])
        return None, deps, outs

    def _build(
        self, rev: str, when: datetime | None, contents: dict[str, _Content], files: ShowFiles
    ) -> ExpData:
        found: dict[str, dict[str, FileData]] = {"params": {}, "metrics": {}}
        for role, paths in (("params", files.params), ("metrics", files.metrics)):
            for rel in paths:
                content: _Content | FileData | None = contents[rel]
                if contents[rel][1] is None:
                    content = self._from_cache(rel, contents) or contents[rel]
                if isinstance(content, FileData):
                    found[role][rel] = content
                    continue
                if content[1] is None and rel in files.optional:
                    continue
                found[role][rel] = self._file(role, rel, content)
        error, deps, outs = self._pipelines(contents, files)
        return ExpData(
            rev=rev,
            timestamp=when,
            params=found["params"],
            metrics=found["metrics"],
            deps=deps,
            outs=outs,
            error=error,
        )


def _lock_of(dvcfile: str) -> str:
    """The ``dvc.lock`` beside ``dvcfile`` (both relative to the root)."""
    return posixpath.join(posixpath.dirname(dvcfile), "dvc.lock")
